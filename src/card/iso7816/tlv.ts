import { WireFormatError } from '../../errors.js';

/** One BER-TLV data object (ISO 7816-4 §5.2.2 / ISO 8825-1). */
export interface Tlv {
  /** The tag bytes as a number: 0x4F, 0x5F52, 0x7F49. */
  readonly tag: number;
  /** Bit b6 of the first tag byte: the value is itself a sequence of data objects. */
  readonly constructed: boolean;
  readonly value: Uint8Array;
  /** Parsed children of a constructed object (empty for primitive ones, or when they don't parse). */
  readonly children: readonly Tlv[];
  /** Where the object starts, relative to the outermost buffer parsed. */
  readonly offset: number;
  /** The length field said more than there was (the object was cut short; see parseTlv). */
  readonly truncated: boolean;
}

const MAX_DEPTH = 16;

/**
 * Parses a sequence of BER-TLV objects (tags of up to 4 bytes, lengths up to 83 xx xx xx).
 * Lenient where real cards need it:
 *   - a declared length longer than the bytes that follow yields what is there (the YubiKey 5
 *     declares its algorithm information FA two bytes longer than it sends);
 *   - 00 and FF between objects are padding (ISO 7816-4 §5.2.2.1) and skipped;
 *   - a constructed object whose content does not parse all the way keeps its value and the
 *     children that parsed before the junk (none, if its content is not TLV at all).
 * Throws WireFormatError where nothing sensible can be done: a tag or length field cut off,
 * indefinite length (80), a length field of more than 3 bytes, a tag longer than 4 bytes.
 */
export function parseTlv(buf: Uint8Array, base = 0): Tlv[] {
  const out: Tlv[] = [];
  parseLevel(buf, base, 0, out);
  return out;
}

/** Appends the objects in `buf` to `out` as it goes, so a caller that catches keeps what parsed. */
function parseLevel(buf: Uint8Array, base: number, depth: number, out: Tlv[]): void {
  if (depth > MAX_DEPTH) throw new WireFormatError('TLV nested too deeply', base);
  let i = 0;
  while (i < buf.length) {
    const start = i;
    const first = buf[i++]!;
    if (first === 0x00 || first === 0xff) continue;
    let tag = first;
    if ((first & 0x1f) === 0x1f) {
      // Subsequent tag bytes: b8 set means another one follows.
      let b: number;
      let n = 0;
      do {
        if (i >= buf.length) throw new WireFormatError('TLV tag cut off', base + start);
        if (++n > 3) throw new WireFormatError('TLV tag longer than 4 bytes', base + start);
        b = buf[i++]!;
        tag = tag * 256 + b;
      } while ((b & 0x80) !== 0);
    }
    if (i >= buf.length) throw new WireFormatError(`TLV length of tag ${tag.toString(16)} missing`, base + i);
    let len = buf[i++]!;
    if (len === 0x80) throw new WireFormatError('indefinite TLV length', base + i - 1);
    if (len > 0x80) {
      const n = len & 0x7f;
      if (n > 3) throw new WireFormatError(`TLV length field of ${n} bytes`, base + i - 1);
      if (i + n > buf.length) throw new WireFormatError('TLV length cut off', base + i);
      len = 0;
      for (let k = 0; k < n; k++) len = len * 256 + buf[i++]!;
    }
    const end = Math.min(buf.length, i + len);
    const value = buf.subarray(i, end);
    const constructed = (first & 0x20) !== 0;
    const children: Tlv[] = [];
    if (constructed) {
      try {
        parseLevel(value, base + i, depth + 1, children);
      } catch (err) {
        if (!(err instanceof WireFormatError)) throw err;
      }
    }
    out.push({ tag, constructed, value, children, offset: base + start, truncated: i + len > buf.length });
    i = end;
  }
}

/** Depth-first search for the first object with `tag`, at any depth. */
export function findTlv(objects: readonly Tlv[], tag: number): Tlv | undefined {
  for (const o of objects) {
    if (o.tag === tag) return o;
    const inner = findTlv(o.children, tag);
    if (inner !== undefined) return inner;
  }
  return undefined;
}
