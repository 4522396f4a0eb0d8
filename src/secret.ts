import { inspect } from 'node:util';

/**
 * A PIN or passphrase. Its value leaves only through `reveal()`; JSON, string conversion and
 * util.inspect (and so pino, console.log and template strings) print `[REDACTED]`.
 */
export class Secret {
  readonly #value: Uint8Array;

  constructor(value: Uint8Array | string) {
    this.#value = typeof value === 'string' ? new TextEncoder().encode(value) : Uint8Array.from(value);
  }

  /** The secret's bytes (a copy). */
  reveal(): Uint8Array {
    return Uint8Array.from(this.#value);
  }

  /** The secret as UTF-8 text. */
  revealString(): string {
    return new TextDecoder().decode(this.#value);
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
