import { WireFormatError } from '../errors.js';

/**
 * The largest message body OpenSSH's ssh-agent accepts (ssh-agent.c `AGENT_MAX_LEN`, 256 KiB);
 * a longer length prefix makes it drop the connection, and so do we.
 */
export const AGENT_MAX_LEN = 256 * 1024;

/** Prefixes a message body with its uint32 big-endian length (draft-miller-ssh-agent §3). */
export function encodeFrame(body: Uint8Array): Uint8Array {
  const out = new Uint8Array(4 + body.length);
  new DataView(out.buffer).setUint32(0, body.length, false);
  out.set(body, 4);
  return out;
}

/** The first allocation for a body, once its first bytes arrive; it then doubles up to the frame's length. */
const FIRST_BODY_ALLOCATION = 1024;

/**
 * Splits a byte stream into message bodies. Frames may arrive split at any byte and several per
 * chunk. Memory follows the bytes that arrived, not the length a header announces: a body
 * buffer is allocated when its first byte comes and grows by doubling (capped at the announced
 * length), so a client announcing 256 KiB and sending nothing costs a few bytes, and one
 * dribbling a large frame a byte at a time still costs linear work. Each body is delivered in
 * its own exactly-sized buffer.
 */
export class FrameSplitter {
  readonly #onFrame: (body: Uint8Array) => void;
  readonly #maxLen: number;
  readonly #header = new Uint8Array(4);
  #headerFilled = 0;
  /** The announced body length, or -1 while reading a header. */
  #bodyLen = -1;
  #body: Uint8Array = new Uint8Array(0);
  #bodyFilled = 0;
  #consumed = 0;
  #failed = false;

  constructor(onFrame: (body: Uint8Array) => void, maxLen = AGENT_MAX_LEN) {
    this.#onFrame = onFrame;
    this.#maxLen = maxLen;
  }

  /** Bytes of an incomplete frame held back (0 on a frame boundary). */
  get buffered(): number {
    return this.#bodyLen < 0 ? this.#headerFilled : 4 + this.#bodyFilled;
  }

  /** Bytes allocated for the incomplete frame (its header plus the body buffer so far). */
  get allocated(): number {
    return this.#header.length + this.#body.length;
  }

  /**
   * Feeds bytes; calls onFrame for each complete frame, in order. Throws WireFormatError (after
   * delivering the frames before it) when a length prefix exceeds the maximum; the splitter is
   * unusable afterwards.
   */
  push(chunk: Uint8Array): void {
    if (this.#failed) throw new WireFormatError('frame splitter used after a framing error', this.#consumed);
    let off = 0;
    while (off < chunk.length) {
      if (this.#bodyLen < 0) {
        const n = Math.min(4 - this.#headerFilled, chunk.length - off);
        this.#header.set(chunk.subarray(off, off + n), this.#headerFilled);
        this.#headerFilled += n;
        off += n;
        if (this.#headerFilled < 4) break;
        const len = new DataView(this.#header.buffer).getUint32(0, false);
        if (len > this.#maxLen) {
          this.#failed = true;
          throw new WireFormatError(`frame length ${len} exceeds the maximum of ${this.#maxLen}`, this.#consumed);
        }
        this.#bodyLen = len;
        this.#bodyFilled = 0;
      } else {
        const n = Math.min(this.#bodyLen - this.#bodyFilled, chunk.length - off);
        this.#reserve(this.#bodyFilled + n);
        this.#body.set(chunk.subarray(off, off + n), this.#bodyFilled);
        this.#bodyFilled += n;
        off += n;
      }
      if (this.#bodyLen >= 0 && this.#bodyFilled === this.#bodyLen) {
        const body = this.#body.length === this.#bodyLen ? this.#body : this.#body.slice(0, this.#bodyLen);
        this.#body = new Uint8Array(0);
        this.#bodyLen = -1;
        this.#headerFilled = 0;
        this.#consumed += 4 + body.length;
        this.#onFrame(body);
      }
    }
  }

  /** Makes room for `need` body bytes: doubling, never beyond the announced length. */
  #reserve(need: number): void {
    if (need <= this.#body.length) return;
    let size = Math.max(this.#body.length * 2, FIRST_BODY_ALLOCATION, need);
    size = Math.min(size, this.#bodyLen);
    // Off-heap (an ArrayBuffer's store): V8 moves small in-heap arrays on GC, leaving copies of a
    // PIN or passphrase behind that fill(0) cannot reach (see src/secret.ts). The outgrown buffer
    // is zeroed for the same reason.
    const next = new Uint8Array(new ArrayBuffer(size));
    next.set(this.#body.subarray(0, this.#bodyFilled));
    this.#body.fill(0);
    this.#body = next;
  }
}
