import { AgentError } from '../../errors.js';

/** A command APDU before encoding (ISO 7816-4 §5.1). */
export interface Command {
  readonly cla?: number;
  readonly ins: number;
  readonly p1: number;
  readonly p2: number;
  readonly data?: Uint8Array;
  /** Expected response length: undefined = none; 0 or more than fits = as much as possible. */
  readonly le?: number;
}

/**
 * Encodes one APDU. Short form when data ≤ 255 and Le ≤ 256 (or `extended` is off); extended form
 * otherwise (Lc as 00 hi lo, Le as two bytes, or three when there is no data). Le 0 means "maximum".
 */
export function encodeCommand(cmd: Command, extended: boolean): Uint8Array {
  const data = cmd.data ?? new Uint8Array(0);
  const cla = cmd.cla ?? 0x00;
  const head = [cla, cmd.ins, cmd.p1, cmd.p2];
  const le = cmd.le;
  const needExtended = data.length > 255 || (le !== undefined && le > 256);
  if (needExtended && !extended) {
    throw new AgentError(`APDU needs extended length (data ${data.length}, Le ${le ?? 0}) but the card has none`);
  }
  if (data.length > 65535) throw new AgentError(`APDU data of ${data.length} bytes is too long`);
  const out: number[] = [...head];
  if (!needExtended) {
    if (data.length > 0) out.push(data.length, ...data);
    if (le !== undefined) out.push(le >= 256 || le === 0 ? 0x00 : le);
    return Uint8Array.from(out);
  }
  const leBytes = (v: number): number[] => (v >= 65536 || v === 0 ? [0, 0] : [v >> 8, v & 0xff]);
  if (data.length > 0) {
    out.push(0x00, data.length >> 8, data.length & 0xff, ...data);
    if (le !== undefined) out.push(...leBytes(le));
  } else if (le !== undefined) {
    out.push(0x00, ...leBytes(le));
  }
  return Uint8Array.from(out);
}
