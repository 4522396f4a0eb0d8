import { describe, expect, it } from 'vitest';
import { koffi } from '../../../src/os/ffi.js';
import { splitMultiString } from '../../../src/card/pcsc/pcsc-native.js';
import { PCSC_PLATFORMS, ioRequestType, platformFor, readerStateType } from '../../../src/card/pcsc/pcsc-platform.js';

const k = koffi();
const layout = (t: ReturnType<typeof readerStateType>): Record<string, number> => ({
  size: k.sizeof(t),
  szReader: k.offsetof(t, 'szReader'),
  pvUserData: k.offsetof(t, 'pvUserData'),
  dwCurrentState: k.offsetof(t, 'dwCurrentState'),
  dwEventState: k.offsetof(t, 'dwEventState'),
  cbAtr: k.offsetof(t, 'cbAtr'),
  rgbAtr: k.offsetof(t, 'rgbAtr'),
});

// The layouts every 64-bit system's C compiler gives these headers (pcsclite.h with `unsigned long`
// DWORDs; macOS PCSC/wintypes.h uint32_t under #pragma pack(1); Windows winscard.h with 36-byte ATRs),
// as pcsc-rust's pcsc-sys declares them. Pinned here so a change that corrupts memory fails a test.
describe('SCARD_READERSTATE layouts (64-bit)', () => {
  it.runIf(process.arch === 'x64' || process.arch === 'arm64')('pcsc-lite: 8-byte DWORDs, natural alignment, 33-byte ATR: 80 bytes', () => {
    expect(layout(readerStateType(k, PCSC_PLATFORMS.pcsclite))).toEqual({ size: 80, szReader: 0, pvUserData: 8, dwCurrentState: 16, dwEventState: 24, cbAtr: 32, rgbAtr: 40 });
    expect(k.sizeof(ioRequestType(k, PCSC_PLATFORMS.pcsclite))).toBe(16);
  });

  it.runIf(process.arch === 'x64' || process.arch === 'arm64')('macOS: 4-byte DWORDs, packed, 33-byte ATR: 61 bytes', () => {
    expect(layout(readerStateType(k, PCSC_PLATFORMS.macos))).toEqual({ size: 61, szReader: 0, pvUserData: 8, dwCurrentState: 16, dwEventState: 20, cbAtr: 24, rgbAtr: 28 });
    expect(k.sizeof(ioRequestType(k, PCSC_PLATFORMS.macos))).toBe(8);
  });

  it.runIf(process.arch === 'x64' || process.arch === 'arm64')('Windows: 4-byte DWORDs, natural alignment, 36-byte ATR: 64 bytes', () => {
    expect(layout(readerStateType(k, PCSC_PLATFORMS.windows))).toEqual({ size: 64, szReader: 0, pvUserData: 8, dwCurrentState: 16, dwEventState: 20, cbAtr: 24, rgbAtr: 28 });
    expect(k.sizeof(ioRequestType(k, PCSC_PLATFORMS.windows))).toBe(8);
  });

  it('each system gets its own definitions and library', () => {
    expect(platformFor('linux')).toBe(PCSC_PLATFORMS.pcsclite);
    expect(platformFor('freebsd')).toBe(PCSC_PLATFORMS.pcsclite);
    expect(platformFor('darwin').libraries[0]).toBe('/System/Library/Frameworks/PCSC.framework/PCSC');
    expect(platformFor('win32')).toMatchObject({ libraries: ['winscard.dll'], wide: true, handle: 'uintptr_t' });
  });

  it('reader lists are multi-strings', () => {
    expect(splitMultiString('Reader A 00 00\0Reader B 00 01\0\0')).toEqual(['Reader A 00 00', 'Reader B 00 01']);
    expect(splitMultiString('\0')).toEqual([]);
  });
});
