import { inspect } from 'node:util';
import { describe, expect, it } from 'vitest';
import { LockHash } from '../../src/agent/lock.js';
import { Secret } from '../../src/secret.js';

describe('LockHash', () => {
  it('matches only the passphrase it was made from, whatever the attempt length', async () => {
    const lock = await LockHash.create(new Secret('correct horse'));
    expect(await lock.matches(new Secret('correct horse'))).toBe(true);
    // Different lengths reach timingSafeEqual as equal-length hashes, so they fail instead of throwing.
    for (const wrong of ['', 'c', 'correct hors', 'correct horse ', 'Correct horse', 'x'.repeat(10_000)]) {
      expect(await lock.matches(new Secret(wrong))).toBe(false);
    }
    expect(await lock.matches(new Secret(Uint8Array.of(0xff, 0x00)))).toBe(false);
  });

  it('keeps no copy of the passphrase and salts each lock', async () => {
    const passphrase = 'correct horse';
    const a = await LockHash.create(new Secret(passphrase));
    const b = await LockHash.create(new Secret(passphrase));
    const dump = (l: LockHash): string => inspect(l, { depth: 5, showHidden: true });
    expect(dump(a)).not.toContain(passphrase);
    expect(dump(a)).not.toContain(Buffer.from(passphrase).toString('hex'));
    expect(dump(a)).not.toBe(dump(b));
    expect(await b.matches(new Secret(passphrase))).toBe(true);
  });
});
