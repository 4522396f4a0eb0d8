import type { PcscHandle, ReaderState } from './pcsc-native.js';

/** Messages between pcsc-thread.ts (event loop) and pcsc-worker.ts (the thread that blocks). */
export type WorkerRequest = { readonly id: number } & (
  | { readonly op: 'establish' }
  | { readonly op: 'release' }
  | { readonly op: 'listReaders' }
  | { readonly op: 'getStatusChange'; readonly readers: readonly { reader: string; known: number }[]; readonly timeoutMs: number }
  | { readonly op: 'connect'; readonly reader: string; readonly shareMode: number }
  | { readonly op: 'reconnect'; readonly card: PcscHandle; readonly shareMode: number; readonly initialization: number }
  | { readonly op: 'disconnect'; readonly card: PcscHandle; readonly disposition: number }
  | { readonly op: 'end'; readonly card: PcscHandle; readonly disposition: number }
  | { readonly op: 'transmit'; readonly card: PcscHandle; readonly protocol: number; readonly apdu: Uint8Array; readonly begin: boolean }
  | { readonly op: 'transmitSeries'; readonly card: PcscHandle; readonly protocol: number; readonly apdus: readonly Uint8Array[]; readonly begin: boolean }
);

export type WorkerOp = WorkerRequest['op'];

/** What each operation answers. */
export interface WorkerResults {
  establish: PcscHandle;
  release: null;
  listReaders: string[];
  getStatusChange: ReaderState[] | null;
  connect: { card: PcscHandle; protocol: number };
  reconnect: number;
  disconnect: null;
  end: null;
  transmit: Uint8Array;
  /** The responses of the APDUs sent: all of them, or up to the first not answered 9000. */
  transmitSeries: Uint8Array[];
}

export type WorkerError = { readonly kind: 'pcsc'; readonly fn: string; readonly code: number; readonly message: string } | { readonly kind: 'other'; readonly message: string };

export type WorkerReply = { readonly id: number; readonly ok: true; readonly value: unknown } | { readonly id: number; readonly ok: false; readonly error: WorkerError };

/** Slots of the Int32Array the two sides share (see pcsc-worker.ts). */
export const SHARED_SLOTS = { ABANDONED: 0, BEGUN: 1, COUNT: 2 } as const;

/** The arguments of a request, without its id. */
export type RequestArgs<K extends WorkerOp> = Omit<Extract<WorkerRequest, { op: K }>, 'id' | 'op'>;
