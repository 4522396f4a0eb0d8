import { koffi, loadLibrary } from '../../os/ffi.js';
import { pcscCodeName, SCARD, SCARD_RC } from './pcsc-codes.js';
import { ioRequestType, platformFor, readerStateType, type PcscPlatform } from './pcsc-platform.js';

/** A PC/SC call answered something other than SCARD_S_SUCCESS. */
export class PcscCallError extends Error {
  readonly code: number;
  constructor(
    readonly fn: string,
    code: number,
  ) {
    super(`${fn}: ${pcscCodeName(code)}`);
    this.name = 'PcscCallError';
    this.code = code >>> 0;
  }
}

export interface ReaderState {
  readonly reader: string;
  /** SCARD_STATE_* flags as returned (dwEventState), counter bits included. */
  readonly eventState: number;
  readonly atr: Uint8Array;
}

/** Handles are numbers on pcsc-lite and macOS, and may be bigints (pointer-sized) on Windows. */
export type PcscHandle = number | bigint;

type Fn = (...args: unknown[]) => unknown;

interface Api {
  establish: Fn;
  release: Fn;
  cancel: Fn;
  listReaders: Fn;
  getStatusChange: Fn;
  connect: Fn;
  reconnect: Fn;
  disconnect: Fn;
  begin: Fn;
  end: Fn;
  transmit: Fn;
}

/** Extended APDUs: up to 65536 data bytes plus SW1 SW2, with room to spare for odd readers. */
const RECV_BUFFER_BYTES = 65538 + 16;

interface Bound {
  readonly api: Api;
  readonly platform: PcscPlatform;
  /** sizeof(SCARD_IO_REQUEST) on this system, for the PCI of SCardTransmit. */
  readonly pciLength: number;
}

let cached: Bound | undefined;

/**
 * Binds the PC/SC functions of this system's library (loaded once per thread: every worker
 * that talks to PC/SC calls this itself). Throws NativeUnavailableError without a library.
 */
function bind(): Bound {
  if (cached !== undefined) return cached;
  const k = koffi();
  const platform = platformFor(process.platform);
  const lib = loadLibrary('the PC/SC library', platform.libraries);
  const { dword: D, long: L, handle: H } = platform;
  const RS = readerStateType(k, platform);
  const IO = ioRequestType(k, platform);
  const w = platform.wide ? 'W' : '';
  const str = platform.wide ? 'const char16_t *' : 'const char *';
  const f = (name: string, ret: string, args: unknown[]): Fn =>
    (platform.name === 'windows' ? lib.func('__stdcall', name, ret, args as never) : lib.func(name, ret, args as never)) as Fn;
  const api: Api = {
    establish: f('SCardEstablishContext', L, [D, 'void *', 'void *', k.out(k.pointer(H))]),
    release: f('SCardReleaseContext', L, [H]),
    cancel: f('SCardCancel', L, [H]),
    listReaders: f(`SCardListReaders${w}`, L, [H, str, 'void *', k.inout(k.pointer(D))]),
    getStatusChange: f(`SCardGetStatusChange${w}`, L, [H, D, k.inout(k.pointer(RS)), D]),
    connect: f(`SCardConnect${w}`, L, [H, str, D, D, k.out(k.pointer(H)), k.out(k.pointer(D))]),
    reconnect: f('SCardReconnect', L, [H, D, D, D, k.out(k.pointer(D))]),
    disconnect: f('SCardDisconnect', L, [H, D]),
    begin: f('SCardBeginTransaction', L, [H]),
    end: f('SCardEndTransaction', L, [H, D]),
    transmit: f('SCardTransmit', L, [H, k.pointer(IO), 'const void *', D, 'void *', 'void *', k.inout(k.pointer(D))]),
  };
  cached = { api, platform, pciLength: k.sizeof(IO) };
  return cached;
}

function check(fn: string, rv: unknown): void {
  const code = typeof rv === 'bigint' ? Number(BigInt.asUintN(32, rv)) : (rv as number) >>> 0;
  if (code !== SCARD_RC.S_SUCCESS) throw new PcscCallError(fn, code);
}

/** Splits a PC/SC multi-string ("a\0b\0\0") into its names. */
export function splitMultiString(s: string): string[] {
  return s.split('\0').filter((x) => x !== '');
}

/**
 * The PC/SC C API, synchronously, on one context. Every call may block (on the card, on pcscd,
 * or on another application's transaction), so this runs on a worker thread (pcsc-worker.ts),
 * never on the event loop. One instance per thread and context: pcsc-lite serialises the calls
 * on a context.
 */
export class NativePcsc {
  private readonly b = bind();
  private readonly recv = Buffer.alloc(RECV_BUFFER_BYTES);
  private context: PcscHandle | undefined;

  /** SCardEstablishContext (system scope). */
  establish(): void {
    if (this.context !== undefined) return;
    const out: PcscHandle[] = [0];
    check('SCardEstablishContext', this.b.api.establish(SCARD.SCOPE_SYSTEM, null, null, out));
    this.context = out[0]!;
  }

  release(): void {
    const ctx = this.context;
    this.context = undefined;
    if (ctx !== undefined) this.b.api.release(ctx);
  }

  /**
   * SCardCancel on a libuv pool thread: ends a pending SCardGetStatusChange on `context` (which
   * another thread is blocked in). pcsc-lite sends the cancel to pcscd over a new connection and
   * waits for its answer, so this must not run on the event loop either.
   */
  static cancelAsync(context: PcscHandle): Promise<void> {
    return new Promise((resolve, reject) => {
      (bind().api.cancel as unknown as { async: (ctx: PcscHandle, cb: (err: unknown, rv: unknown) => void) => void }).async(context, (err, rv) => {
        if (err !== null && err !== undefined) reject(err instanceof Error ? err : new Error(String(err)));
        else {
          try {
            check('SCardCancel', rv);
            resolve();
          } catch (e) {
            reject(e as Error);
          }
        }
      });
    });
  }

  get contextHandle(): PcscHandle | undefined {
    return this.context;
  }

  private ctx(): PcscHandle {
    if (this.context === undefined) this.establish();
    return this.context!;
  }

  /** SCardListReaders; an empty list when pcscd has no readers. */
  listReaders(): string[] {
    const size: number[] = [0];
    const rv = this.b.api.listReaders(this.ctx(), null, null, size);
    if ((Number(rv) >>> 0) === SCARD_RC.E_NO_READERS_AVAILABLE) return [];
    check('SCardListReaders', rv);
    const unit = this.b.platform.wide ? 2 : 1;
    const buf = Buffer.alloc(Math.max(1, size[0]!) * unit);
    const rv2 = this.b.api.listReaders(this.ctx(), null, buf, size);
    if ((Number(rv2) >>> 0) === SCARD_RC.E_NO_READERS_AVAILABLE) return [];
    check('SCardListReaders', rv2);
    const text = this.b.platform.wide ? buf.subarray(0, size[0]! * 2).toString('utf16le') : buf.subarray(0, size[0]!).toString('utf8');
    return splitMultiString(text);
  }

  /**
   * SCardGetStatusChange: waits up to `timeoutMs` (SCARD.INFINITE for ever) until one of the
   * readers' states differs from `known`. Returns the new states, or null on timeout.
   */
  getStatusChange(readers: readonly { reader: string; known: number }[], timeoutMs: number): ReaderState[] | null {
    const states = readers.map((r) => ({
      szReader: r.reader,
      pvUserData: null,
      dwCurrentState: r.known,
      dwEventState: 0,
      cbAtr: 0,
      rgbAtr: new Uint8Array(this.b.platform.atrSize),
    }));
    const rv = this.b.api.getStatusChange(this.ctx(), timeoutMs, states, states.length);
    if ((Number(rv) >>> 0) === SCARD_RC.E_TIMEOUT) return null;
    check('SCardGetStatusChange', rv);
    return states.map((s) => ({
      reader: s.szReader,
      eventState: Number(s.dwEventState) >>> 0,
      atr: Uint8Array.from((s.rgbAtr as Uint8Array).subarray(0, Math.min(Number(s.cbAtr), this.b.platform.atrSize))),
    }));
  }

  /** SCardConnect; answers the card handle and the active protocol. */
  connect(reader: string, shareMode: number, protocols: number): { card: PcscHandle; protocol: number } {
    const card: PcscHandle[] = [0];
    const protocol: number[] = [0];
    check('SCardConnect', this.b.api.connect(this.ctx(), reader, shareMode, protocols, card, protocol));
    return { card: card[0]!, protocol: Number(protocol[0]) };
  }

  reconnect(card: PcscHandle, shareMode: number, protocols: number, initialization: number): number {
    const protocol: number[] = [0];
    check('SCardReconnect', this.b.api.reconnect(card, shareMode, protocols, initialization, protocol));
    return Number(protocol[0]);
  }

  disconnect(card: PcscHandle, disposition: number): void {
    check('SCardDisconnect', this.b.api.disconnect(card, disposition));
  }

  beginTransaction(card: PcscHandle): void {
    check('SCardBeginTransaction', this.b.api.begin(card));
  }

  endTransaction(card: PcscHandle, disposition: number): void {
    check('SCardEndTransaction', this.b.api.end(card, disposition));
  }

  /** SCardTransmit with the protocol's PCI; answers the response APDU (data + SW1 SW2). */
  transmit(card: PcscHandle, protocol: number, apdu: Uint8Array): Uint8Array {
    const len: number[] = [this.recv.length];
    const pci = { dwProtocol: protocol, cbPciLength: this.b.pciLength };
    check('SCardTransmit', this.b.api.transmit(card, pci, apdu, apdu.length, null, this.recv, len));
    return Uint8Array.from(this.recv.subarray(0, Number(len[0])));
  }
}
