import { concatBytes } from '../wire/bytes.js';

/** BER-TLV encoding for the card's responses (ISO 7816-4 §5.2.2). */
export function tlv(tag: number, ...values: Uint8Array[]): Uint8Array {
  const value = concat(...values);
  const tagBytes = tag > 0xff ? [tag >> 8, tag & 0xff] : [tag];
  const len = value.length;
  const lenBytes = len < 0x80 ? [len] : len < 0x100 ? [0x81, len] : [0x82, len >> 8, len & 0xff];
  return concat(Uint8Array.from(tagBytes), Uint8Array.from(lenBytes), value);
}

export const concat = concatBytes;

/** Parses a flat sequence of simple TLVs (one- or two-byte tags); lenient, for command data. */
export function parseTlvs(b: Uint8Array): Map<number, Uint8Array> {
  const out = new Map<number, Uint8Array>();
  let i = 0;
  while (i < b.length) {
    let tag = b[i++]!;
    if ((tag & 0x1f) === 0x1f && i < b.length) tag = (tag << 8) | b[i++]!;
    if (i >= b.length) break;
    let len = b[i++]!;
    if (len === 0x81) len = b[i++] ?? 0;
    else if (len === 0x82) {
      len = ((b[i] ?? 0) << 8) | (b[i + 1] ?? 0);
      i += 2;
    }
    out.set(tag, b.subarray(i, Math.min(b.length, i + len)));
    i += len;
  }
  return out;
}

export const hex = (b: Uint8Array): string => Buffer.from(b).toString('hex');
export const unhex = (s: string): Uint8Array => Uint8Array.from(Buffer.from(s, 'hex'));
