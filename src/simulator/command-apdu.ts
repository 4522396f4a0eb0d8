/** A parsed command APDU (ISO 7816-4 §5.1), card side. */
export interface CommandApdu {
  readonly cla: number;
  readonly ins: number;
  readonly p1: number;
  readonly p2: number;
  readonly data: Uint8Array;
  /** Expected response length; 0 = none asked; 256 (short) or 65536 (extended) for "all". */
  readonly le: number;
  readonly extended: boolean;
}

/** Parses cases 1–4 in short and extended form; undefined when the bytes are not an APDU. */
export function parseCommandApdu(b: Uint8Array): CommandApdu | undefined {
  if (b.length < 4) return undefined;
  const [cla, ins, p1, p2] = [b[0]!, b[1]!, b[2]!, b[3]!];
  const head = { cla, ins, p1, p2 };
  const n = b.length - 4;
  if (n === 0) return { ...head, data: new Uint8Array(0), le: 0, extended: false };
  const b4 = b[4]!;
  if (n === 1) return { ...head, data: new Uint8Array(0), le: b4 === 0 ? 256 : b4, extended: false };
  if (b4 !== 0) {
    // Short case 3 or 4.
    const lc = b4;
    if (n === 1 + lc) return { ...head, data: b.subarray(5, 5 + lc), le: 0, extended: false };
    if (n === 2 + lc) {
      const le = b[5 + lc]!;
      return { ...head, data: b.subarray(5, 5 + lc), le: le === 0 ? 256 : le, extended: false };
    }
    return undefined;
  }
  // Extended: 00 then two bytes.
  if (n === 3) {
    const le = (b[5]! << 8) | b[6]!;
    return { ...head, data: new Uint8Array(0), le: le === 0 ? 65536 : le, extended: true };
  }
  const lc = (b[5]! << 8) | b[6]!;
  if (lc === 0) return undefined;
  if (n === 3 + lc) return { ...head, data: b.subarray(7, 7 + lc), le: 0, extended: true };
  if (n === 5 + lc) {
    const le = (b[7 + lc]! << 8) | b[8 + lc]!;
    return { ...head, data: b.subarray(7, 7 + lc), le: le === 0 ? 65536 : le, extended: true };
  }
  return undefined;
}
