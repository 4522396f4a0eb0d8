import { inspect } from 'node:util';

/**
 * Bytes that must not outlive their use, outside V8's moving heap. V8 keeps the backing store of
 * a small typed array (up to 64 bytes, and PINs are small) inside the JS heap, where every
 * young-generation GC copies it and leaves the old copy behind; an ArrayBuffer's store is
 * allocated outside the heap and never moved, so fill(0) really erases it.
 */
export function secretBytes(length: number): Uint8Array<ArrayBuffer> {
  return new Uint8Array(new ArrayBuffer(length));
}

/** An off-heap copy of `bytes` (see secretBytes). */
export function copySecretBytes(bytes: Uint8Array): Uint8Array<ArrayBuffer> {
  const out = secretBytes(bytes.length);
  out.set(bytes);
  return out;
}

/**
 * A PIN or passphrase. Its value leaves only through `reveal()` / `revealString()`; JSON, string
 * conversion and util.inspect (and so pino, console.log and template strings) print `[REDACTED]`.
 *
 * Ownership, one rule everywhere (src/pins, src/notify, the agent and the card layer follow it):
 * - Whoever creates a Secret owns it and wipes it when done with it. The protocol decoder
 *   creates one per request that carries a PIN or passphrase; the agent wipes them after the
 *   request (and zeroes the request body).
 * - Passing a Secret to a function LENDS it: the callee may use it until it returns (or its
 *   promise settles) and must not keep the reference. A callee that needs the value later makes
 *   its own copy (`clone()`) and owns that copy (MemoryPinStore, the PIN prompt's single flight).
 * - A function that returns a Secret hands over a fresh one, never one it keeps: the caller owns
 *   it and wipes it (PinRegistry.get, PinStore.get, PinPrompt.askPin).
 * - `reveal()` returns a fresh off-heap copy the revealer owns and zeroes (`fill(0)`) as soon as
 *   the bytes have been handed on (APDU built, D-Bus message encoded, scrypt done).
 * - `revealString()` makes a JS string, which cannot be wiped and may be copied by the engine:
 *   only where a library takes nothing else (the TOML writer for a Direct PIN, @napi-rs/keyring
 *   on Windows). Nowhere else.
 */
export class Secret {
  readonly #value: Uint8Array;

  constructor(value: Uint8Array | string) {
    if (typeof value === 'string') {
      // Encoded straight into off-heap storage: no intermediate array left behind.
      this.#value = secretBytes(Buffer.byteLength(value, 'utf8'));
      new TextEncoder().encodeInto(value, this.#value);
    } else {
      this.#value = copySecretBytes(value);
    }
  }

  /** The secret's bytes: a fresh off-heap copy the caller owns and zeroes. */
  reveal(): Uint8Array {
    return copySecretBytes(this.#value);
  }

  /** The secret as UTF-8 text. A string cannot be wiped: see the ownership rule above. */
  revealString(): string {
    return new TextDecoder().decode(this.#value);
  }

  /** A copy with its own storage, owned by the caller. */
  clone(): Secret {
    return new Secret(this.#value);
  }

  /** Runs `fn` on a revealed copy and zeroes that copy afterwards, whatever happens. */
  async use<T>(fn: (bytes: Uint8Array) => Promise<T> | T): Promise<T> {
    const bytes = this.reveal();
    try {
      return await fn(bytes);
    } finally {
      bytes.fill(0);
    }
  }

  get length(): number {
    return this.#value.length;
  }

  /** Overwrites the bytes; the Secret is empty afterwards. */
  wipe(): void {
    this.#value.fill(0);
  }

  toJSON(): string {
    return '[REDACTED]';
  }

  toString(): string {
    return '[REDACTED]';
  }

  [inspect.custom](): string {
    return 'Secret([REDACTED])';
  }
}
