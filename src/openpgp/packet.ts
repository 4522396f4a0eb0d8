import { WireFormatError } from '../errors.js';
import { concatBytes } from '../wire/bytes.js';

/**
 * OpenPGP packet framing, RFC 9580 §4.2: we write the OpenPGP (new) format; we read both it and
 * the legacy format GnuPG 2.2 still writes, with partial body lengths joined.
 */
export function encodePacket(tag: number, body: Uint8Array): Uint8Array {
  const len = encodeLength(body.length);
  const out = new Uint8Array(1 + len.length + body.length);
  out[0] = 0xc0 | tag;
  out.set(len, 1);
  out.set(body, 1 + len.length);
  return out;
}

/** A length as in OpenPGP-format headers and subpackets (RFC 9580 §4.2.1.1-4.2.1.3). */
export function encodeLength(n: number): Uint8Array {
  if (n < 192) return Uint8Array.of(n);
  if (n < 8384) {
    const m = n - 192;
    return Uint8Array.of((m >> 8) + 192, m & 0xff);
  }
  return Uint8Array.of(0xff, (n >>> 24) & 0xff, (n >>> 16) & 0xff, (n >>> 8) & 0xff, n & 0xff);
}

export interface Packet {
  readonly tag: number;
  readonly body: Uint8Array;
  /** Where its header starts in the parsed buffer. */
  readonly offset: number;
}

/** Splits a binary OpenPGP stream into packets. Throws WireFormatError on anything cut short. */
export function parsePackets(data: Uint8Array): Packet[] {
  const out: Packet[] = [];
  let i = 0;
  const need = (n: number, what: string): void => {
    if (i + n > data.length) throw new WireFormatError(`OpenPGP ${what} cut short`, i);
  };
  while (i < data.length) {
    const offset = i;
    const ctb = data[i++]!;
    if ((ctb & 0x80) === 0) throw new WireFormatError(`not an OpenPGP packet header: ${ctb.toString(16)}`, offset);
    let tag: number;
    let body: Uint8Array;
    if ((ctb & 0x40) !== 0) {
      tag = ctb & 0x3f;
      const parts: Uint8Array[] = [];
      for (;;) {
        need(1, 'packet length');
        const first = data[i++]!;
        let len: number;
        let partial = false;
        if (first < 192) len = first;
        else if (first < 224) {
          need(1, 'packet length');
          len = ((first - 192) << 8) + data[i++]! + 192;
        } else if (first === 255) {
          need(4, 'packet length');
          len = ((data[i]! << 24) | (data[i + 1]! << 16) | (data[i + 2]! << 8) | data[i + 3]!) >>> 0;
          i += 4;
        } else {
          len = 1 << (first & 0x1f);
          partial = true;
        }
        need(len, 'packet body');
        parts.push(data.subarray(i, i + len));
        i += len;
        if (!partial) break;
      }
      body = parts.length === 1 ? parts[0]! : concat(parts);
    } else {
      tag = (ctb >> 2) & 0x0f;
      const lt = ctb & 0x03;
      let len: number;
      if (lt === 0) {
        need(1, 'packet length');
        len = data[i++]!;
      } else if (lt === 1) {
        need(2, 'packet length');
        len = (data[i]! << 8) | data[i + 1]!;
        i += 2;
      } else if (lt === 2) {
        need(4, 'packet length');
        len = ((data[i]! << 24) | (data[i + 1]! << 16) | (data[i + 2]! << 8) | data[i + 3]!) >>> 0;
        i += 4;
      } else {
        len = data.length - i; // indeterminate: to the end
      }
      need(len, 'packet body');
      body = data.subarray(i, i + len);
      i += len;
    }
    out.push({ tag, body, offset });
  }
  return out;
}

/** An MPI (RFC 9580 §3.2): bit count, then the magnitude without leading zero bytes. */
export function encodeMpi(magnitude: Uint8Array): Uint8Array {
  let i = 0;
  while (i < magnitude.length && magnitude[i] === 0) i++;
  const m = magnitude.subarray(i);
  const bits = m.length === 0 ? 0 : (m.length - 1) * 8 + (32 - Math.clz32(m[0]!));
  const out = new Uint8Array(2 + m.length);
  out[0] = bits >> 8;
  out[1] = bits & 0xff;
  out.set(m, 2);
  return out;
}

/** A cursor over an OpenPGP packet body; every read is bounds-checked. */
export class PacketReader {
  private pos = 0;
  constructor(
    readonly buf: Uint8Array,
    private readonly what: string,
  ) {}

  get offset(): number {
    return this.pos;
  }

  get remaining(): number {
    return this.buf.length - this.pos;
  }

  private need(n: number): void {
    if (n > this.buf.length - this.pos) throw new WireFormatError(`${this.what} cut short (need ${n} bytes, have ${this.buf.length - this.pos})`, this.pos);
  }

  u8(): number {
    this.need(1);
    return this.buf[this.pos++]!;
  }

  u16(): number {
    this.need(2);
    const v = (this.buf[this.pos]! << 8) | this.buf[this.pos + 1]!;
    this.pos += 2;
    return v;
  }

  u32(): number {
    this.need(4);
    const b = this.buf;
    const p = this.pos;
    this.pos += 4;
    return ((b[p]! << 24) | (b[p + 1]! << 16) | (b[p + 2]! << 8) | b[p + 3]!) >>> 0;
  }

  raw(n: number): Uint8Array {
    this.need(n);
    const out = this.buf.subarray(this.pos, this.pos + n);
    this.pos += n;
    return out;
  }

  /** An MPI's magnitude bytes. */
  mpi(): Uint8Array {
    const bits = this.u16();
    return this.raw((bits + 7) >> 3);
  }

  rest(): Uint8Array {
    return this.raw(this.remaining);
  }
}

export function concat(parts: readonly Uint8Array[]): Uint8Array {
  return concatBytes(...parts);
}

export function u32be(v: number): Uint8Array {
  return Uint8Array.of((v >>> 24) & 0xff, (v >>> 16) & 0xff, (v >>> 8) & 0xff, v & 0xff);
}

export const toHex = (b: Uint8Array): string => Buffer.from(b).toString('hex').toUpperCase();
export const fromHex = (s: string): Uint8Array => Uint8Array.from(Buffer.from(s, 'hex'));
