import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { parseApplicationData, parseTouchPolicy } from '../../../src/card/openpgp/application-data.js';
import { cardKeyFrom, describeAlgorithm, parseAlgorithmAttributes, parsePublicKeyTemplate, unreadableKeyReason } from '../../../src/card/openpgp/public-key.js';
import { findTlv, parseTlv } from '../../../src/card/iso7816/tlv.js';
import { UnsupportedError, WireFormatError } from '../../../src/errors.js';
import { hex, smartpgp, unhex, yubikey } from './fixtures.js';

const dataOf = (resp: string): Uint8Array => unhex(resp).subarray(0, -2);

describe('SmartPGP application related data (real cards, from the SmartPGP issue tracker)', () => {
  const expected = [
    { ident: 'AFAF:00000000', version: '3.2', aut: 2048, pw1Multi: false },
    { ident: 'BEEF:00000000', version: '3.4', aut: 3072, pw1Multi: true },
    { ident: 'C0FE:00000001', version: '3.4', aut: 2048, pw1Multi: true },
  ];
  for (const [i, a] of smartpgp.apdus.entries()) {
    it(`card ${i}: ${expected[i]!.ident}, version ${expected[i]!.version}`, () => {
      const ard = parseApplicationData(dataOf(a.resp));
      expect(ard.aid.ident).toBe(expected[i]!.ident);
      expect(ard.aid.version).toBe(expected[i]!.version);
      // Compact-TLV historical bytes with a C1 header before the capabilities: chaining yes, extended no.
      expect(ard.commandChaining).toBe(true);
      expect(ard.extendedLength).toBe(false);
      expect(ard.maxCommandBytes).toBeUndefined();
      expect(ard.algorithms.aut).toEqual({ algorithm: 'rsa', bits: expected[i]!.aut, exponentBits: 17, importFormat: 3 });
      expect(ard.pwStatus).toMatchObject({ pw1ValidForMultipleSignatures: expected[i]!.pw1Multi, retriesPw1: 3, retriesPw3: 3 });
      expect(ard.extendedCapabilities).toMatchObject({ secureMessaging: true, kdf: true, smAlgorithm: 3, maxChallenge: 0x20, maxCertificate: 0x480, maxSpecialDo: 0xff });
      expect(ard.extendedCapabilities?.pinBlock2).toBe(i === 0);
      expect(ard.touch.aut).toBe('off');
    });
  }
});

describe('application related data: edge cases', () => {
  const aid = '4f10d276000124010304000612345678' + '0000';
  it('finds objects without the 73 wrapper (older cards put C0…C5 at the top level)', () => {
    const ard = parseApplicationData(unhex('6e' + '2b' + aid + 'c109132a8648ce3d030107' + 'ff' + 'c407007f7f7f030003' + 'd6020120'));
    expect(ard.aid.ident).toBe('0006:12345678');
    expect(ard.algorithms.sig).toEqual({ algorithm: 'ecdsa', curve: 'p256', oid: '2a8648ce3d030107' });
    expect(ard.pwStatus?.retriesPw1).toBe(3);
    expect(ard.touch.sig).toBe('on');
    expect(ard.fingerprints).toBeUndefined();
    expect(ard.kdfSupported).toBe(false);
  });

  it('a version 2.1 card without 7F66 takes its length limits from C0 (and only then)', () => {
    const v2aid = '4f10d276000124010201000500001234' + '0000';
    // Historical bytes: category 00, card capabilities 73 (3 bytes; third = 40: extended Lc/Le), status 05 9000.
    const hist = '5f5208' + '00' + '7300' + '0040' + '059000';
    // C0 of a 2.x card: flags, SM algorithm, max challenge, max certificate, max command data, max response data.
    const c0 = 'c00a' + '7c00' + '0800' + '0800' + '0400' + '0600';
    const body = v2aid + hist + c0;
    const ard = parseApplicationData(unhex('6e' + (body.length / 2).toString(16) + body));
    expect(ard.aid.version).toBe('2.1');
    expect(ard.extendedLength).toBe(true);
    expect([ard.maxCommandBytes, ard.maxResponseBytes]).toEqual([0x0400, 0x0600]);
    // The same C0 on a 3.x card means other things: no limits from it.
    const v3 = parseApplicationData(unhex('6e' + (body.length / 2).toString(16) + body.replace('d27600012401020100', 'd27600012401030400')));
    expect(v3.aid.version).toBe('3.4');
    expect(v3.maxCommandBytes).toBeUndefined();
  });

  it('generation times (CD): three big-endian seconds; a time the card cuts short, or no CD, is 0', () => {
    const of = (cd: string): { sig: number; dec: number; aut: number } => {
      const body = aid + cd;
      return parseApplicationData(unhex('6e' + (body.length / 2).toString(16).padStart(2, '0') + body)).generationTimes;
    };
    expect(of('cd0c' + '5f000001' + '00000000' + 'ffffffff')).toEqual({ sig: 0x5f000001, dec: 0, aut: 0xffffffff });
    expect(of('cd0a' + '5f000001' + '60000002' + '6100')).toEqual({ sig: 0x5f000001, dec: 0x60000002, aut: 0 });
    expect(of('')).toEqual({ sig: 0, dec: 0, aut: 0 });
  });

  it('an ARD without AID is refused', () => {
    expect(() => parseApplicationData(unhex('6e03c40100'))).toThrow(WireFormatError);
  });

  it('touch policies as YubiKeys report them', () => {
    expect(['00', '01', '02', '03', '04', '05'].map((b) => parseTouchPolicy(unhex(b + '20')))).toEqual(['off', 'on', 'fixed', 'cached', 'cached-fixed', 'unknown']);
  });

  it('only WireFormatError comes out of garbage, also inside a real ARD', () => {
    const real = dataOf(smartpgp.apdus[1]!.resp);
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 300 }), fc.nat(real.length), fc.uint8Array({ minLength: 1, maxLength: 8 }), (junk, at, patch) => {
        for (const input of [junk, Uint8Array.from([...real.subarray(0, at), ...patch, ...real.subarray(at + patch.length)]), real.subarray(0, at)]) {
          try {
            parseApplicationData(input);
          } catch (e) {
            if (!(e instanceof WireFormatError)) throw e;
          }
        }
      }),
      { numRuns: 2000 },
    );
  });
});

describe('algorithm attributes (3.4.1 §4.4.3.10)', () => {
  const attr = (h: string): ReturnType<typeof parseAlgorithmAttributes> => parseAlgorithmAttributes(unhex(h));
  it('RSA sizes and import formats', () => {
    expect(attr('010800001100')).toEqual({ algorithm: 'rsa', bits: 2048, exponentBits: 17, importFormat: 0 });
    expect(attr('010c00001103')).toMatchObject({ bits: 3072, importFormat: 3 });
    expect(attr('0110000011')).toMatchObject({ bits: 4096, importFormat: 0 });
    // The card layer reads any RSA size; whether SSH may use RSA 1024 is the agent's call (test/agent).
    expect(unreadableKeyReason(attr('010400001100'))).toBeUndefined();
  });

  it('every curve in the YubiKey algorithm information is recognised; keys are read for RSA, NIST ECDSA and Ed25519 only', () => {
    const fa = parseTlv(dataOf(yubikey.algorithm_information.resp))[0]!;
    expect(fa.truncated).toBe(true); // the YubiKey over-declares FA by 2 bytes
    const seen = new Map<string, string | undefined>();
    for (const c of fa.children) {
      const a = parseAlgorithmAttributes(c.value);
      expect(a.algorithm).not.toBe('unknown');
      if (a.algorithm !== 'rsa' && a.algorithm !== 'unknown') expect(a.curve, a.oid).toBeDefined();
      seen.set(`${c.tag.toString(16)} ${describeAlgorithm(a)}`, unreadableKeyReason(a));
    }
    expect(seen.get('c3 ECDSA p256')).toBeUndefined();
    expect(seen.get('c3 ECDSA p384')).toBeUndefined();
    expect(seen.get('c3 ECDSA p521')).toBeUndefined();
    expect(seen.get('c3 EdDSA ed25519')).toBeUndefined();
    expect(seen.get('c3 RSA 4096')).toBeUndefined();
    expect(seen.get('c3 ECDSA brainpoolP256r1')).toMatch(/keys are not supported/);
    expect(seen.get('c3 ECDSA brainpoolP512r1')).toMatch(/keys are not supported/);
    expect(seen.get('c3 ECDSA secp256k1')).toMatch(/keys are not supported/);
    expect(seen.get('c3 EdDSA x25519')).toMatch(/keys are not supported/);
    expect(seen.get('c2 ECDH p256')).toMatch(/keys are not supported/);
    expect(seen.size).toBe(48); // 12 algorithms for each of C1, C2, C3 and the YubiKey's attestation slot DA
  });

  it('X25519 both as the YubiKey writes it (16 + OID) and as GnuPG does (12 + OID)', () => {
    expect(attr('162b060104019755010501')).toMatchObject({ algorithm: 'eddsa', curve: 'x25519' });
    expect(attr('122b060104019755010501')).toMatchObject({ algorithm: 'ecdh', curve: 'x25519' });
    expect(unreadableKeyReason(attr('162b060104019755010501'))).toBeDefined();
  });

  it('a trailing FF (import with public key) is ignored; unknown ids are kept raw', () => {
    expect(attr('132a8648ce3d030107ff')).toMatchObject({ algorithm: 'ecdsa', curve: 'p256' });
    expect(attr('99aabb')).toEqual({ algorithm: 'unknown', raw: unhex('99aabb') });
    expect(attr('')).toMatchObject({ algorithm: 'unknown' });
  });
});

describe('public key templates (7F49, 3.4.1 §7.2.14)', () => {
  const p256 = parseAlgorithmAttributes(unhex('132a8648ce3d030107'));
  const ed = parseAlgorithmAttributes(unhex('162b06010401da470f01'));
  const v = yubikey.signature_vectors[0]!;

  it('EC point from 86; a wrong-sized point is refused', () => {
    const key = parsePublicKeyTemplate(unhex(v.public_key_7f49), p256);
    expect(key).toMatchObject({ kind: 'ecdsa', curve: 'p256' });
    expect(() => parsePublicKeyTemplate(unhex('7f49048602' + '0401'), p256)).toThrow(WireFormatError);
  });

  it('Ed25519 with or without the 40 prefix', () => {
    const x = 'ab'.repeat(32);
    expect(hex((parsePublicKeyTemplate(unhex('7f4922' + '8620' + x), ed) as { point: Uint8Array }).point)).toBe(x);
    expect(hex((parsePublicKeyTemplate(unhex('7f4923' + '862140' + x), ed) as { point: Uint8Array }).point)).toBe(x);
  });

  it('a 7F49 cut off mid-modulus (SmartPGP recording) is refused, not read as a shorter key', () => {
    const partial = smartpgp.partial_apdus[0]!;
    const resp = unhex(partial.resp_prefix);
    expect(findTlv(parseTlv(resp), 0x81)?.truncated).toBe(true);
    expect(() => parsePublicKeyTemplate(resp, { algorithm: 'rsa', bits: 2048, exponentBits: 17, importFormat: 3 })).toThrow(/cut off/);
  });

  it('brainpool, secp256k1, X25519 keys: UnsupportedError, or the unsupported variant with its reason', () => {
    const bp = parseAlgorithmAttributes(unhex('132b2403030208010107'));
    const k1 = parseAlgorithmAttributes(unhex('132b8104000a'));
    for (const a of [bp, k1]) {
      expect(() => parsePublicKeyTemplate(unhex(v.public_key_7f49), a)).toThrow(UnsupportedError);
      expect(cardKeyFrom(unhex(v.public_key_7f49), a)).toMatchObject({ kind: 'unsupported', reason: expect.stringMatching(/keys are not supported/) });
    }
    expect(cardKeyFrom(unhex(v.public_key_7f49), p256).kind).toBe('ecdsa');
  });

  it('RSA without exponent is refused; garbage only throws our errors', () => {
    const rsa = parseAlgorithmAttributes(unhex('010800001100'));
    expect(() => parsePublicKeyTemplate(unhex('7f490481020102'), rsa)).toThrow(WireFormatError);
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 200 }), (b) => {
        for (const a of [rsa, p256, ed]) {
          try {
            parsePublicKeyTemplate(b, a);
          } catch (e) {
            if (!(e instanceof WireFormatError)) throw e;
          }
        }
      }),
      { numRuns: 2000 },
    );
  });
});
