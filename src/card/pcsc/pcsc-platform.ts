import type { KoffiModule } from '../../os/ffi.js';

/**
 * How the PC/SC C API looks on each system. The function names and semantics are the same
 * everywhere (winscard.h); the types are not, and getting them wrong corrupts memory:
 *
 * - pcsc-lite (Linux, the BSDs): DWORD is `unsigned long` and LONG is `long` (64 bits on 64-bit
 *   systems), SCARD_READERSTATE has natural alignment, MAX_ATR_SIZE is 33 (pcsclite.h).
 * - macOS PCSC.framework: DWORD is uint32_t, LONG int32_t, and the structs are declared under
 *   `#pragma pack(1)`; MAX_ATR_SIZE 33.
 * - Windows winscard.dll: DWORD and LONG are 32 bits, SCARDCONTEXT/SCARDHANDLE are ULONG_PTR
 *   (pointer-sized), reader names are UTF-16 with the ...W functions, and rgbAtr has 36 bytes.
 *
 * pcsc-rust's pcsc-sys makes the same distinctions.
 */
export interface PcscPlatform {
  readonly name: 'pcsclite' | 'macos' | 'windows';
  /** Libraries to try, in order. */
  readonly libraries: readonly string[];
  readonly dword: string;
  readonly long: string;
  /** SCARDCONTEXT / SCARDHANDLE. */
  readonly handle: string;
  readonly packed: boolean;
  readonly atrSize: number;
  /** Reader names: UTF-8 `char` (A) or UTF-16 `char16_t` (W). */
  readonly wide: boolean;
}

export const PCSC_PLATFORMS = {
  pcsclite: {
    name: 'pcsclite',
    libraries: ['libpcsclite.so.1', 'libpcsclite.so'],
    dword: 'unsigned long',
    long: 'long',
    handle: 'long',
    packed: false,
    atrSize: 33,
    wide: false,
  },
  macos: {
    name: 'macos',
    libraries: ['/System/Library/Frameworks/PCSC.framework/PCSC'],
    dword: 'uint32_t',
    long: 'int32_t',
    handle: 'int32_t',
    packed: true,
    atrSize: 33,
    wide: false,
  },
  windows: {
    name: 'windows',
    libraries: ['winscard.dll'],
    dword: 'uint32_t',
    long: 'int32_t',
    handle: 'uintptr_t',
    packed: false,
    atrSize: 36,
    wide: true,
  },
} as const satisfies Record<string, PcscPlatform>;

export function platformFor(os: NodeJS.Platform): PcscPlatform {
  if (os === 'win32') return PCSC_PLATFORMS.windows;
  if (os === 'darwin') return PCSC_PLATFORMS.macos;
  return PCSC_PLATFORMS.pcsclite;
}

/** The koffi type of SCARD_READERSTATE for `platform` (winscard.h). */
export function readerStateType(k: KoffiModule, platform: PcscPlatform): ReturnType<KoffiModule['struct']> {
  const def = {
    szReader: platform.wide ? 'const char16_t *' : 'const char *',
    pvUserData: 'void *',
    dwCurrentState: platform.dword,
    dwEventState: platform.dword,
    cbAtr: platform.dword,
    rgbAtr: k.array('uint8_t', platform.atrSize),
  };
  return platform.packed ? k.pack(def) : k.struct(def);
}

/** The koffi type of SCARD_IO_REQUEST (protocol control information) for `platform`. */
export function ioRequestType(k: KoffiModule, platform: PcscPlatform): ReturnType<KoffiModule['struct']> {
  const def = { dwProtocol: platform.dword, cbPciLength: platform.dword };
  return platform.packed ? k.pack(def) : k.struct(def);
}
