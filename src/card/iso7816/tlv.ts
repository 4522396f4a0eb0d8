import { WireFormatError } from '../../errors.js';

/** One BER-TLV data object (ISO 7816-4 §5.2.2 / ISO 8825-1). */
export interface Tlv {
  readonly tag: number;
  readonly constructed: boolean;
  readonly value: Uint8Array;
  /** Parsed children of a constructed object (empty for primitive ones). */
  readonly children: readonly Tlv[];
}

/**
 * Parses a sequence of BER-TLV objects. Lenient where real cards need it: a declared length
 * longer than the bytes that follow yields what is there (seen in SmartPGP's application data),
 * and 00/FF padding between objects is skipped. Throws WireFormatError when a tag or length
 * itself is cut off or absurd.
 */
export function parseTlv(buf: Uint8Array, base = 0, depth = 0): Tlv[] {
  if (depth > 16) throw new WireFormatError('TLV nested too deeply', base);
  const out: Tlv[] = [];
  let i = 0;
  while (i < buf.length) {
    const start = i;
    const first = buf[i++]!;
    if (first === 0x00 || first === 0xff) continue;
    let tag = first;
    if ((first & 0x1f) === 0x1f) {
      let more = true;
      let n = 0;
      while (more) {
        if (i >= buf.length) throw new WireFormatError('TLV tag cut off', base + start);
        const b = buf[i++]!;
        tag = (tag << 8) | b;
        more = (b & 0x80) !== 0;
        if (++n > 3) throw new WireFormatError('TLV tag longer than 4 bytes', base + start);
      }
    }
    if (i >= buf.length) throw new WireFormatError(`TLV length of tag ${tag.toString(16)} cut off`, base + i);
    let len = buf[i++]!;
    if (len === 0x80) throw new WireFormatError('indefinite TLV length', base + i - 1);
    if (len > 0x80) {
      const n = len & 0x7f;
      if (n > 3) throw new WireFormatError(`TLV length with ${n} bytes`, base + i - 1);
      if (i + n > buf.length) throw new WireFormatError('TLV length cut off', base + i);
      len = 0;
      for (let k = 0; k < n; k++) len = (len << 8) | buf[i++]!;
    }
    const end = Math.min(buf.length, i + len);
    const value = buf.subarray(i, end);
    const constructed = ((tag >>> (8 * (tagBytes(tag) - 1))) & 0x20) !== 0;
    let children: Tlv[] = [];
    if (constructed) {
      try {
        children = parseTlv(value, base + i, depth + 1);
      } catch (err) {
        if (!(err instanceof WireFormatError)) throw err;
        children = [];
      }
    }
    out.push({ tag, constructed, value, children });
    i = end;
  }
  return out;
}

function tagBytes(tag: number): number {
  return tag > 0xffffff ? 4 : tag > 0xffff ? 3 : tag > 0xff ? 2 : 1;
}

/** Depth-first search for the first object with `tag`. */
export function findTlv(objects: readonly Tlv[], tag: number): Tlv | undefined {
  for (const o of objects) {
    if (o.tag === tag) return o;
    const inner = findTlv(o.children, tag);
    if (inner !== undefined) return inner;
  }
  return undefined;
}
