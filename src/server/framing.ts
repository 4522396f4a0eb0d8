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

/**
 * Splits a byte stream into message bodies. Frames may arrive split at any byte and several per
 * chunk. Each body is copied into its own exactly-sized buffer as bytes arrive, so a client
 * dribbling a large frame one byte at a time costs linear work.
 */
export class FrameSplitter {
  readonly #onFrame: (body: Uint8Array) => void;
  readonly #maxLen: number;
  readonly #header = new Uint8Array(4);
  #headerFilled = 0;
  #body: Uint8Array | null = null;
  #bodyFilled = 0;
  #consumed = 0;
  #failed = false;

  constructor(onFrame: (body: Uint8Array) => void, maxLen = AGENT_MAX_LEN) {
    this.#onFrame = onFrame;
    this.#maxLen = maxLen;
  }

  /** Bytes of an incomplete frame held back (0 on a frame boundary). */
  get buffered(): number {
    return this.#body === null ? this.#headerFilled : 4 + this.#bodyFilled;
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
      if (this.#body === null) {
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
        // Off-heap (an ArrayBuffer's store): V8 moves small in-heap arrays on GC, leaving copies
        // of a PIN or passphrase behind that fill(0) cannot reach (see src/secret.ts).
        this.#body = new Uint8Array(new ArrayBuffer(len));
        this.#bodyFilled = 0;
      } else {
        const n = Math.min(this.#body.length - this.#bodyFilled, chunk.length - off);
        this.#body.set(chunk.subarray(off, off + n), this.#bodyFilled);
        this.#bodyFilled += n;
        off += n;
      }
      if (this.#body !== null && this.#bodyFilled === this.#body.length) {
        const body = this.#body;
        this.#body = null;
        this.#headerFilled = 0;
        this.#consumed += 4 + body.length;
        this.#onFrame(body);
      }
    }
  }
}
