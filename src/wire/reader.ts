import { WireFormatError } from '../errors.js';

/**
 * A bounds-checked cursor over SSH wire data (RFC 4251 §5). Every read checks that the bytes
 * are there and throws WireFormatError with the offset otherwise; no RangeError escapes.
 */
export class Reader {
  private pos = 0;
  constructor(
    readonly buf: Uint8Array,
    /** Added to error offsets, so nested readers report positions in the outer frame. */
    private readonly base = 0,
  ) {}

  get offset(): number {
    return this.pos;
  }

  get remaining(): number {
    return this.buf.length - this.pos;
  }

  private need(n: number, what: string): void {
    if (n > this.buf.length - this.pos) {
      throw new WireFormatError(
        `truncated ${what}: need ${n} bytes, have ${this.buf.length - this.pos}`,
        this.base + this.pos,
      );
    }
  }

  u8(): number {
    this.need(1, 'byte');
    return this.buf[this.pos++]!;
  }

  bool(): boolean {
    return this.u8() !== 0;
  }

  u32(): number {
    this.need(4, 'uint32');
    const b = this.buf;
    const p = this.pos;
    this.pos += 4;
    return ((b[p]! << 24) | (b[p + 1]! << 16) | (b[p + 2]! << 8) | b[p + 3]!) >>> 0;
  }

  u64(): bigint {
    const hi = this.u32();
    const lo = this.u32();
    return (BigInt(hi) << 32n) | BigInt(lo);
  }

  /** `n` raw bytes (a view, not a copy). */
  raw(n: number): Uint8Array {
    this.need(n, 'bytes');
    const out = this.buf.subarray(this.pos, this.pos + n);
    this.pos += n;
    return out;
  }

  /** An SSH `string`: uint32 length then that many bytes (a view). */
  bytes(): Uint8Array {
    const start = this.pos;
    const len = this.u32();
    if (len > this.buf.length - this.pos) {
      throw new WireFormatError(
        `string length ${len} exceeds the ${this.buf.length - this.pos} bytes left`,
        this.base + start,
      );
    }
    return this.raw(len);
  }

  /** An SSH `string` decoded as UTF-8 (fatal on invalid UTF-8). */
  string(): string {
    const start = this.pos;
    const b = this.bytes();
    try {
      return new TextDecoder('utf-8', { fatal: true }).decode(b);
    } catch {
      throw new WireFormatError('string is not valid UTF-8', this.base + start);
    }
  }

  /** An SSH `mpint` as its two's-complement bytes (as on the wire, possibly with a 00 pad). */
  mpint(): Uint8Array {
    return this.bytes();
  }

  /** A nested reader over an SSH `string`, reporting offsets in this buffer. */
  sub(): Reader {
    const start = this.pos + 4;
    const b = this.bytes();
    return new Reader(b, this.base + start);
  }

  /** The rest of the buffer (a view). */
  rest(): Uint8Array {
    return this.raw(this.remaining);
  }

  /** Asserts the buffer was consumed exactly. */
  end(what = 'message'): void {
    if (this.pos !== this.buf.length) {
      throw new WireFormatError(
        `${this.buf.length - this.pos} trailing bytes after ${what}`,
        this.base + this.pos,
      );
    }
  }
}
