import { createRequire } from 'node:module';

/** The parts of the `smartcard` addon we use (its own types are not exported by path). */
export interface PcscCard {
  transmit(command: Buffer, options?: { maxRecvLength?: number }): Promise<Buffer>;
  reconnect(shareMode?: number, protocol?: number, initialization?: number): Promise<number>;
  disconnect(disposition?: number): void;
}
export interface PcscReader {
  readonly name: string;
  readonly state: number;
  connect(shareMode?: number, protocol?: number): Promise<PcscCard>;
}
export interface PcscContext {
  listReaders(): PcscReader[];
  close(): void;
}

interface Binding {
  Context: new () => PcscContext;
  SCARD_SHARE_SHARED: number;
  SCARD_SHARE_EXCLUSIVE: number;
  SCARD_PROTOCOL_T0: number;
  SCARD_PROTOCOL_T1: number;
  SCARD_LEAVE_CARD: number;
  SCARD_RESET_CARD: number;
  SCARD_STATE_PRESENT: number;
  SCARD_STATE_MUTE: number;
}

/** The native binding is loaded here and nowhere else. */
const require = createRequire(import.meta.url);
export const smartcard = require('smartcard') as Binding;
