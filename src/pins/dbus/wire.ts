import { WireFormatError } from '../../errors.js';
import { copySecretBytes, secretBytes } from '../../secret.js';

/**
 * The D-Bus wire format (D-Bus Specification 0.43 §"Message Protocol": marshalling and the
 * message header), for the handful of calls the Secret Service needs. Values by signature:
 *
 *   y u i n q → number     b → boolean     t x → bigint     s o g → string
 *   ay → Uint8Array (a copy: the caller may wipe it)         a{..} → Array<[key, value]>
 *   a.. → Array            (..) → Array (the struct's fields in order)
 *   v → Variant { signature, value }
 *
 * Every read checks bounds and throws WireFormatError with the offset; nothing else escapes.
 */
export interface Variant {
  readonly signature: string;
  readonly value: unknown;
}

export const variant = (signature: string, value: unknown): Variant => ({ signature, value });

export const MESSAGE_TYPE = { METHOD_CALL: 1, METHOD_RETURN: 2, ERROR: 3, SIGNAL: 4 } as const;

export const HEADER_FIELD = {
  PATH: 1,
  INTERFACE: 2,
  MEMBER: 3,
  ERROR_NAME: 4,
  REPLY_SERIAL: 5,
  DESTINATION: 6,
  SENDER: 7,
  SIGNATURE: 8,
  UNIX_FDS: 9,
} as const;

/** NO_REPLY_EXPECTED = 0x1, NO_AUTO_START = 0x2, ALLOW_INTERACTIVE_AUTHORIZATION = 0x4. */
export const FLAG_NO_REPLY_EXPECTED = 0x1;

/** Largest message the spec allows (2^27). */
export const MAX_MESSAGE_LENGTH = 134_217_728;

/** Splits a signature into its complete types: "sa{sv}(oayays)" → ["s", "a{sv}", "(oayays)"]. */
export function splitSignature(sig: string): string[] {
  const out: string[] = [];
  let i = 0;
  while (i < sig.length) {
    const end = completeTypeEnd(sig, i);
    out.push(sig.slice(i, end));
    i = end;
  }
  return out;
}

function completeTypeEnd(sig: string, start: number): number {
  const c = sig[start];
  if (c === undefined) throw new WireFormatError(`signature "${sig}" ends inside a type`, start);
  if (c === 'a') return completeTypeEnd(sig, start + 1);
  if (c === '(' || c === '{') {
    const close = c === '(' ? ')' : '}';
    let i = start + 1;
    while (sig[i] !== close) {
      if (i >= sig.length) throw new WireFormatError(`signature "${sig}" has an unclosed ${c}`, start);
      i = completeTypeEnd(sig, i);
    }
    return i + 1;
  }
  if ('ybnqiuxtdsogvh'.includes(c)) return start + 1;
  throw new WireFormatError(`signature "${sig}" has an unknown type code ${c}`, start);
}

function alignmentOf(type: string): number {
  switch (type[0]) {
    case 'y':
    case 'g':
    case 'v':
      return 1;
    case 'n':
    case 'q':
      return 2;
    case 'x':
    case 't':
    case 'd':
    case '(':
    case '{':
      return 8;
    default:
      return 4;
  }
}

/** A growing little-endian buffer with D-Bus alignment. */
export class DBusWriter {
  private buf = secretBytes(256);
  private view = new DataView(this.buf.buffer);
  private pos = 0;

  get length(): number {
    return this.pos;
  }

  private reserve(n: number): void {
    if (this.pos + n <= this.buf.length) return;
    let size = this.buf.length * 2;
    while (size < this.pos + n) size *= 2;
    const next = secretBytes(size);
    next.set(this.buf.subarray(0, this.pos));
    // The old buffer may hold a secret: leave nothing behind.
    this.buf.fill(0);
    this.buf = next;
    this.view = new DataView(next.buffer);
  }

  align(n: number): void {
    const pad = (n - (this.pos % n)) % n;
    this.reserve(pad);
    this.buf.fill(0, this.pos, this.pos + pad);
    this.pos += pad;
  }

  u8(v: number): void {
    this.reserve(1);
    this.buf[this.pos++] = v & 0xff;
  }

  u32(v: number): void {
    this.align(4);
    this.reserve(4);
    this.view.setUint32(this.pos, v >>> 0, true);
    this.pos += 4;
  }

  /** Overwrites a uint32 written earlier (array lengths are known only afterwards). */
  patchU32(at: number, v: number): void {
    this.view.setUint32(at, v >>> 0, true);
  }

  raw(bytes: Uint8Array): void {
    this.reserve(bytes.length);
    this.buf.set(bytes, this.pos);
    this.pos += bytes.length;
  }

  /** Appends one value of the complete type `type`. */
  write(type: string, value: unknown): void {
    const c = type[0];
    switch (c) {
      case 'y':
        this.u8(num(value, type));
        return;
      case 'b':
        this.u32(value === true ? 1 : 0);
        return;
      case 'n':
      case 'q':
        this.align(2);
        this.reserve(2);
        this.view.setUint16(this.pos, num(value, type) & 0xffff, true);
        this.pos += 2;
        return;
      case 'i':
      case 'u':
      case 'h':
        this.u32(num(value, type));
        return;
      case 'x':
      case 't':
        this.align(8);
        this.reserve(8);
        this.view.setBigUint64(this.pos, BigInt.asUintN(64, BigInt(value as bigint)), true);
        this.pos += 8;
        return;
      case 'd':
        this.align(8);
        this.reserve(8);
        this.view.setFloat64(this.pos, num(value, type), true);
        this.pos += 8;
        return;
      case 's':
      case 'o': {
        const bytes = new TextEncoder().encode(str(value, type));
        this.u32(bytes.length);
        this.raw(bytes);
        this.u8(0);
        return;
      }
      case 'g': {
        const bytes = new TextEncoder().encode(str(value, type));
        this.u8(bytes.length);
        this.raw(bytes);
        this.u8(0);
        return;
      }
      case 'v': {
        const v = value as Variant;
        this.write('g', v.signature);
        this.write(v.signature, v.value);
        return;
      }
      case '(':
      case '{': {
        this.align(8);
        const fields = splitSignature(type.slice(1, -1));
        const values = value as readonly unknown[];
        fields.forEach((f, i) => this.write(f, values[i]));
        return;
      }
      case 'a': {
        const elem = type.slice(1);
        this.u32(0);
        const lengthAt = this.pos - 4;
        this.align(alignmentOf(elem));
        const start = this.pos;
        if (elem === 'y') this.raw(value as Uint8Array);
        else for (const item of value as Iterable<unknown>) this.write(elem, item);
        this.patchU32(lengthAt, this.pos - start);
        return;
      }
      default:
        throw new WireFormatError(`cannot write D-Bus type ${type}`, this.pos);
    }
  }

  /** The bytes written (a copy); call wipe() afterwards when they held a secret. */
  bytes(): Uint8Array {
    return copySecretBytes(this.buf.subarray(0, this.pos));
  }

  wipe(): void {
    this.buf.fill(0);
  }
}

function num(v: unknown, type: string): number {
  if (typeof v !== 'number') throw new TypeError(`D-Bus ${type} needs a number`);
  return v;
}

function str(v: unknown, type: string): string {
  if (typeof v !== 'string') throw new TypeError(`D-Bus ${type} needs a string`);
  return v;
}

/** A bounds-checked cursor over one D-Bus message (either byte order). */
export class DBusReader {
  private pos: number;
  private readonly view: DataView;

  constructor(
    private readonly buf: Uint8Array,
    private readonly littleEndian: boolean,
    start = 0,
  ) {
    this.view = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
    this.pos = start;
  }

  get offset(): number {
    return this.pos;
  }

  private need(n: number, what: string): void {
    if (n > this.buf.length - this.pos) throw new WireFormatError(`D-Bus message truncated in ${what}`, this.pos);
  }

  align(n: number): void {
    const pad = (n - (this.pos % n)) % n;
    this.need(pad, 'padding');
    this.pos += pad;
  }

  u8(): number {
    this.need(1, 'byte');
    return this.buf[this.pos++]!;
  }

  u32(): number {
    this.align(4);
    this.need(4, 'uint32');
    const v = this.view.getUint32(this.pos, this.littleEndian);
    this.pos += 4;
    return v;
  }

  read(type: string): unknown {
    const c = type[0];
    switch (c) {
      case 'y':
        return this.u8();
      case 'b':
        return this.u32() !== 0;
      case 'n':
      case 'q': {
        this.align(2);
        this.need(2, 'int16');
        const v = c === 'n' ? this.view.getInt16(this.pos, this.littleEndian) : this.view.getUint16(this.pos, this.littleEndian);
        this.pos += 2;
        return v;
      }
      case 'i': {
        const v = this.u32();
        return v | 0;
      }
      case 'u':
      case 'h':
        return this.u32();
      case 'x':
      case 't': {
        this.align(8);
        this.need(8, 'int64');
        const v = c === 'x' ? this.view.getBigInt64(this.pos, this.littleEndian) : this.view.getBigUint64(this.pos, this.littleEndian);
        this.pos += 8;
        return v;
      }
      case 'd': {
        this.align(8);
        this.need(8, 'double');
        const v = this.view.getFloat64(this.pos, this.littleEndian);
        this.pos += 8;
        return v;
      }
      case 's':
      case 'o': {
        const len = this.u32();
        this.need(len + 1, 'string');
        const s = decodeUtf8(this.buf.subarray(this.pos, this.pos + len), this.pos);
        this.pos += len + 1;
        return s;
      }
      case 'g': {
        const len = this.u8();
        this.need(len + 1, 'signature');
        const s = decodeUtf8(this.buf.subarray(this.pos, this.pos + len), this.pos);
        this.pos += len + 1;
        return s;
      }
      case 'v': {
        const signature = this.read('g') as string;
        const types = splitSignature(signature);
        if (types.length !== 1) throw new WireFormatError(`variant signature "${signature}" is not one complete type`, this.pos);
        return { signature, value: this.read(signature) } satisfies Variant;
      }
      case '(':
      case '{': {
        this.align(8);
        return splitSignature(type.slice(1, -1)).map((f) => this.read(f));
      }
      case 'a': {
        const elem = type.slice(1);
        const len = this.u32();
        if (len > 67_108_864) throw new WireFormatError(`D-Bus array of ${len} bytes is over the limit`, this.pos);
        this.align(alignmentOf(elem));
        this.need(len, 'array');
        const end = this.pos + len;
        if (elem === 'y') {
          // Off-heap: this may be a secret (see src/secret.ts).
          const out = copySecretBytes(this.buf.subarray(this.pos, end));
          this.pos = end;
          return out;
        }
        const items: unknown[] = [];
        while (this.pos < end) items.push(this.read(elem));
        if (this.pos !== end) throw new WireFormatError('D-Bus array elements overrun the array length', this.pos);
        return items;
      }
      default:
        throw new WireFormatError(`cannot read D-Bus type ${type}`, this.pos);
    }
  }
}

function decodeUtf8(bytes: Uint8Array, at: number): string {
  try {
    return new TextDecoder('utf-8', { fatal: true }).decode(bytes);
  } catch {
    throw new WireFormatError('D-Bus string is not UTF-8', at);
  }
}

export interface DBusMessage {
  readonly type: number;
  readonly flags: number;
  readonly serial: number;
  readonly path?: string | undefined;
  readonly interface?: string | undefined;
  readonly member?: string | undefined;
  readonly errorName?: string | undefined;
  readonly replySerial?: number | undefined;
  readonly destination?: string | undefined;
  readonly sender?: string | undefined;
  readonly signature?: string | undefined;
  readonly body: readonly unknown[];
}

/** Encodes one message (little-endian, protocol version 1). */
export function encodeMessage(m: DBusMessage): Uint8Array {
  const body = new DBusWriter();
  const types = m.signature === undefined || m.signature === '' ? [] : splitSignature(m.signature);
  if (types.length !== m.body.length) throw new TypeError(`signature "${m.signature ?? ''}" has ${types.length} types for ${m.body.length} values`);
  types.forEach((t, i) => body.write(t, m.body[i]));
  const fields: Array<[number, Variant]> = [];
  const add = (code: number, sig: string, v: unknown): void => {
    if (v !== undefined) fields.push([code, variant(sig, v)]);
  };
  add(HEADER_FIELD.PATH, 'o', m.path);
  add(HEADER_FIELD.INTERFACE, 's', m.interface);
  add(HEADER_FIELD.MEMBER, 's', m.member);
  add(HEADER_FIELD.ERROR_NAME, 's', m.errorName);
  add(HEADER_FIELD.REPLY_SERIAL, 'u', m.replySerial);
  add(HEADER_FIELD.DESTINATION, 's', m.destination);
  add(HEADER_FIELD.SENDER, 's', m.sender);
  if (types.length > 0) add(HEADER_FIELD.SIGNATURE, 'g', m.signature);
  const w = new DBusWriter();
  w.u8(0x6c); // 'l': little-endian
  w.u8(m.type);
  w.u8(m.flags);
  w.u8(1);
  w.u32(body.length);
  w.u32(m.serial);
  w.write('a(yv)', fields);
  w.align(8);
  const bodyBytes = body.bytes();
  w.raw(bodyBytes);
  bodyBytes.fill(0);
  body.wipe();
  const out = w.bytes();
  w.wipe();
  return out;
}

/**
 * The length of the message at the start of `buf`, or undefined when fewer than 16 bytes are
 * there to tell. Throws on a bad byte-order mark or an oversized message.
 */
export function messageLength(buf: Uint8Array): number | undefined {
  if (buf.length < 16) return undefined;
  const le = byteOrder(buf);
  const view = new DataView(buf.buffer, buf.byteOffset, 16);
  const bodyLength = view.getUint32(4, le);
  const fieldsLength = view.getUint32(12, le);
  const headerEnd = 16 + fieldsLength;
  const total = headerEnd + ((8 - (headerEnd % 8)) % 8) + bodyLength;
  if (total > MAX_MESSAGE_LENGTH) throw new WireFormatError(`D-Bus message of ${total} bytes is over the limit`, 0);
  return total;
}

function byteOrder(buf: Uint8Array): boolean {
  if (buf[0] === 0x6c) return true;
  if (buf[0] === 0x42) return false;
  throw new WireFormatError(`bad D-Bus byte-order mark 0x${(buf[0] ?? 0).toString(16)}`, 0);
}

/** Decodes one complete message (as measured by messageLength). */
export function decodeMessage(buf: Uint8Array): DBusMessage {
  const le = byteOrder(buf);
  const r = new DBusReader(buf, le);
  r.u8();
  const type = r.u8();
  const flags = r.u8();
  const version = r.u8();
  if (version !== 1) throw new WireFormatError(`D-Bus protocol version ${version}`, 3);
  const bodyLength = r.u32();
  const serial = r.u32();
  const fields = new Map<number, unknown>();
  for (const [code, v] of r.read('a(yv)') as Array<[number, Variant]>) fields.set(code, v.value);
  r.align(8);
  const bodyStart = r.offset;
  if (bodyStart + bodyLength !== buf.length) throw new WireFormatError('D-Bus body length does not match the message', bodyStart);
  const signature = fields.get(HEADER_FIELD.SIGNATURE) as string | undefined;
  const body: unknown[] = [];
  if (signature !== undefined && signature !== '') {
    const br = new DBusReader(buf.subarray(bodyStart), le);
    for (const t of splitSignature(signature)) body.push(br.read(t));
  }
  const s = (code: number): string | undefined => {
    const v = fields.get(code);
    return typeof v === 'string' ? v : undefined;
  };
  const replySerial = fields.get(HEADER_FIELD.REPLY_SERIAL);
  return {
    type,
    flags,
    serial,
    path: s(HEADER_FIELD.PATH),
    interface: s(HEADER_FIELD.INTERFACE),
    member: s(HEADER_FIELD.MEMBER),
    errorName: s(HEADER_FIELD.ERROR_NAME),
    replySerial: typeof replySerial === 'number' ? replySerial : undefined,
    destination: s(HEADER_FIELD.DESTINATION),
    sender: s(HEADER_FIELD.SENDER),
    signature,
    body,
  };
}
