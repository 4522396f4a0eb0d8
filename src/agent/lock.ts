import { randomBytes, scrypt, timingSafeEqual } from 'node:crypto';
import type { Secret } from '../secret.js';

const SALT_BYTES = 16;
const HASH_BYTES = 32;

function derive(passphrase: Secret, salt: Uint8Array): Promise<Buffer> {
  const pw = passphrase.reveal();
  return new Promise((resolve, reject) => {
    scrypt(pw, salt, HASH_BYTES, (err, key) => {
      pw.fill(0);
      if (err === null) resolve(key);
      else reject(err);
    });
  });
}

/**
 * The lock passphrase, kept only as a salted scrypt hash (draft-miller-ssh-agent §3.7). An
 * unlock attempt is hashed the same way and compared in constant time, so neither the stored
 * value nor the comparison leaks the passphrase.
 */
export class LockHash {
  private constructor(
    private readonly salt: Uint8Array,
    private readonly hash: Buffer,
  ) {}

  static async create(passphrase: Secret): Promise<LockHash> {
    const salt = randomBytes(SALT_BYTES);
    return new LockHash(salt, await derive(passphrase, salt));
  }

  async matches(attempt: Secret): Promise<boolean> {
    const h = await derive(attempt, this.salt);
    return timingSafeEqual(h, this.hash);
  }
}

/**
 * Delay after the n-th consecutive wrong unlock: grows linearly and caps, as OpenSSH's
 * ssh-agent does (100 ms per failure, at most 100 failures counted, so at most 10 s).
 */
export function unlockFailureDelay(failures: number, stepMs: number): number {
  return Math.min(failures, 100) * stepMs;
}
