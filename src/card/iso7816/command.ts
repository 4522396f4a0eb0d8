import { AgentError } from '../../errors.js';

/** INS whose data is a PIN (ISO 7816-4: VERIFY, CHANGE REFERENCE DATA, RESET RETRY COUNTER): never traced, zeroed after use. */
export const SECRET_INS: ReadonlySet<number> = new Set([0x20, 0x24, 0x2c]);

/** A command APDU before encoding (ISO 7816-4 §5.1). */
export interface Command {
  readonly cla?: number;
  readonly ins: number;
  readonly p1: number;
  readonly p2: number;
  readonly data?: Uint8Array;
  /**
   * Expected response length: undefined = no Le field (cases 1 and 3); 0 = "as much as allowed"
   * (the channel substitutes its maximum); otherwise the number of bytes (1..65536).
   */
  readonly le?: number;
}

/** The most data a short APDU carries (Lc one byte) and the most a short Le asks for (00 = 256). */
export const SHORT_MAX_DATA = 255;
export const SHORT_MAX_LE = 256;
/** The extended forms (Lc 00 hi lo, Le hi lo, where 0000 = 65536). */
export const EXTENDED_MAX_DATA = 65535;
export const EXTENDED_MAX_LE = 65536;

/**
 * Encodes one APDU (ISO 7816-4 §5.1). The short form when data ≤ 255 and Le ≤ 256; otherwise
 * the extended form, which ISO requires for both fields at once: Lc as 00 hi lo and then Le as
 * hi lo, or Le alone as 00 hi lo. Le 256 (short) encodes as 00, Le 65536 (extended) as 0000.
 * Le 0 is taken as the largest the form allows. Throws when the APDU needs the extended form and
 * `extended` is off (the card never announced it), or a field is out of range.
 */
export function encodeCommand(cmd: Command, extended: boolean): Uint8Array {
  const data = cmd.data ?? new Uint8Array(0);
  const cla = cmd.cla ?? 0x00;
  for (const [name, v] of [['CLA', cla], ['INS', cmd.ins], ['P1', cmd.p1], ['P2', cmd.p2]] as const) {
    if (!Number.isInteger(v) || v < 0 || v > 0xff) throw new AgentError(`APDU ${name} ${v} is not a byte`);
  }
  const le = cmd.le;
  if (le !== undefined && (!Number.isInteger(le) || le < 0 || le > EXTENDED_MAX_LE)) throw new AgentError(`APDU Le ${le} is out of range`);
  if (data.length > EXTENDED_MAX_DATA) throw new AgentError(`APDU data of ${data.length} bytes is too long`);
  const needExtended = data.length > SHORT_MAX_DATA || (le !== undefined && le > SHORT_MAX_LE);
  if (needExtended && !extended) {
    throw new AgentError(`APDU needs extended length (data ${data.length}, Le ${le ?? 'none'}) but the card has none`);
  }
  const headAndLc = needExtended ? 7 : 5;
  // Off-heap (an ArrayBuffer of its own): a VERIFY APDU carries a PIN, and V8 copies small in-heap
  // arrays on GC where zeroing cannot reach them (see src/secret.ts).
  const out = new Uint8Array(new ArrayBuffer((data.length > 0 ? headAndLc + data.length : 4) + (le === undefined ? 0 : needExtended ? (data.length > 0 ? 2 : 3) : 1)));
  out.set([cla, cmd.ins, cmd.p1, cmd.p2]);
  let o = 4;
  if (data.length > 0) {
    if (needExtended) {
      out.set([0x00, data.length >> 8, data.length & 0xff], o);
      o += 3;
    } else out[o++] = data.length;
    out.set(data, o);
    o += data.length;
  }
  if (le !== undefined) {
    if (!needExtended) {
      out[o] = le === 0 || le === SHORT_MAX_LE ? 0x00 : le;
    } else {
      if (data.length === 0) out[o++] = 0x00;
      const v = le === 0 || le === EXTENDED_MAX_LE ? 0 : le;
      out.set([v >> 8, v & 0xff], o);
    }
  }
  return out;
}
