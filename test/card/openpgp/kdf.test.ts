import { createHash } from 'node:crypto';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { deriveKdfPin, iteratedSaltedS2k, parseKdfDo } from '../../../src/card/openpgp/kdf.js';
import { WireFormatError } from '../../../src/errors.js';
import { hex, replay, unhex, yubikey } from './fixtures.js';

const ascii = (s: string): Uint8Array => new TextEncoder().encode(s);

/** RFC 4880 §3.7.1.3 written the naive way: the whole repeated stream, cut at `count`, hashed at once. */
function naiveS2k(secret: Uint8Array, salt: Uint8Array, count: number, hash: string): string {
  const unit = Buffer.concat([salt, secret]);
  const n = Math.max(count, unit.length);
  const stream = Buffer.alloc(n);
  for (let i = 0; i < n; i++) stream[i] = unit[i % unit.length]!;
  return createHash(hash).update(stream).digest('hex');
}

describe('KDF-DO (3.4.1 §4.3.2)', () => {
  const written = unhex(yubikey.replays.kdf_do_as_written.value);

  it('parses what go-openpgp-card wrote to the YubiKey', () => {
    const k = parseKdfDo(written);
    expect(k).toMatchObject({ algorithm: 'itersalted-s2k', hash: 'sha512', iterations: 100000 });
    expect(hex(k.saltPw1!)).toBe('ab'.repeat(8));
    expect(hex(k.saltRc!)).toBe('ab'.repeat(8));
    expect(hex(k.saltPw3!)).toBe('ab'.repeat(8));
  });

  it('derives exactly the bytes the real card accepted for PW1 (123456) and PW3 (12345678)', () => {
    const k = parseKdfDo(written);
    const pw1Apdu = replay('verify_pw1_81_kdf')[0]!.cmd;
    const pw3Apdu = replay('verify_pw3_kdf')[0]!.cmd;
    expect(hex(deriveKdfPin(ascii('123456'), k, 'pw1'))).toBe(pw1Apdu.slice(10));
    expect(hex(deriveKdfPin(ascii('12345678'), k, 'pw3'))).toBe(pw3Apdu.slice(10));
    expect(pw1Apdu.slice(0, 10)).toBe('0020008140');
  });

  it('KDF off: 81 01 00 (as the fresh YubiKey answers) and the PIN goes as is', () => {
    const off = parseKdfDo(unhex(replay('get_kdf_off')[0]!.resp).subarray(0, -2));
    expect(off.algorithm).toBe('none');
    expect(hex(deriveKdfPin(ascii('123456'), off, 'pw1'))).toBe(hex(ascii('123456')));
  });

  it('SHA-256 and short counts agree with the naive definition', () => {
    fc.assert(
      fc.property(fc.uint8Array({ minLength: 1, maxLength: 20 }), fc.uint8Array({ maxLength: 16 }), fc.integer({ min: 0, max: 5000 }), fc.constantFrom('sha256', 'sha512'), (pin, salt, count, h) => {
        expect(hex(iteratedSaltedS2k(pin, salt, count, h as 'sha256' | 'sha512'))).toBe(naiveS2k(pin, salt, count, h));
      }),
      { numRuns: 300 },
    );
  });

  it('unknown KDF algorithm or hash: WireFormatError', () => {
    expect(() => parseKdfDo(unhex('810102'))).toThrow(WireFormatError);
    expect(() => parseKdfDo(unhex('810103820109'))).toThrow(WireFormatError);
  });
});
