/**
 * A growable buffer for SSH wire data. `begin()`/`finish()` reserve a uint32 length prefix and
 * fill it in afterwards, so nested strings need no second pass.
 */
export class Writer {
  private buf: Uint8Array;
  private pos = 0;
  private readonly marks: number[] = [];

  constructor(initial = 256) {
    this.buf = new Uint8Array(initial);
  }

  private ensure(n: number): void {
    if (this.pos + n <= this.buf.length) return;
    let size = this.buf.length * 2;
    while (size < this.pos + n) size *= 2;
    const next = new Uint8Array(size);
    next.set(this.buf.subarray(0, this.pos));
    this.buf = next;
  }

  u8(v: number): this {
    this.ensure(1);
    this.buf[this.pos++] = v & 0xff;
    return this;
  }

  bool(v: boolean): this {
    return this.u8(v ? 1 : 0);
  }

  u32(v: number): this {
    this.ensure(4);
    const b = this.buf;
    b[this.pos++] = (v >>> 24) & 0xff;
    b[this.pos++] = (v >>> 16) & 0xff;
    b[this.pos++] = (v >>> 8) & 0xff;
    b[this.pos++] = v & 0xff;
    return this;
  }

  u64(v: bigint): this {
    return this.u32(Number((v >> 32n) & 0xffffffffn)).u32(Number(v & 0xffffffffn));
  }

  raw(data: Uint8Array): this {
    this.ensure(data.length);
    this.buf.set(data, this.pos);
    this.pos += data.length;
    return this;
  }

  /** An SSH `string`. */
  bytes(data: Uint8Array): this {
    return this.u32(data.length).raw(data);
  }

  string(s: string): this {
    return this.bytes(new TextEncoder().encode(s));
  }

  /**
   * An SSH `mpint` from unsigned big-endian magnitude bytes: leading zeros stripped, a 00
   * prepended when the top bit is set (RFC 4251 §5).
   */
  mpintUnsigned(magnitude: Uint8Array): this {
    let i = 0;
    while (i < magnitude.length && magnitude[i] === 0) i++;
    const m = magnitude.subarray(i);
    if (m.length > 0 && (m[0]! & 0x80) !== 0) {
      this.u32(m.length + 1).u8(0);
      return this.raw(m);
    }
    return this.bytes(m);
  }

  /** Starts a length-prefixed block; close it with finish(). */
  begin(): this {
    this.ensure(4);
    this.marks.push(this.pos);
    this.pos += 4;
    return this;
  }

  finish(): this {
    const mark = this.marks.pop();
    if (mark === undefined) throw new Error('Writer.finish() without begin()');
    const len = this.pos - mark - 4;
    const b = this.buf;
    b[mark] = (len >>> 24) & 0xff;
    b[mark + 1] = (len >>> 16) & 0xff;
    b[mark + 2] = (len >>> 8) & 0xff;
    b[mark + 3] = len & 0xff;
    return this;
  }

  get length(): number {
    return this.pos;
  }

  /** A copy of what was written. */
  toBytes(): Uint8Array {
    if (this.marks.length !== 0) throw new Error('Writer has unfinished length blocks');
    return this.buf.slice(0, this.pos);
  }
}
