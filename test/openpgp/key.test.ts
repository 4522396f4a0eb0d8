import { describe, expect, it } from 'vitest';
import { dearmorAll } from '../../src/openpgp/armor.js';
import { parseCertificates } from '../../src/openpgp/certificate.js';
import { describeKey, fingerprint, gnupgEcdhKdf, keyIdOf, keyPacketBody, parseKeyPacketBody } from '../../src/openpgp/key.js';
import { colonKeys, readFixture } from './fixtures.js';

const hex = (b: Uint8Array): string => Buffer.from(b).toString('hex').toUpperCase();

describe('v4 public keys against GnuPG 2.2.40', () => {
  const certs = ['rsa', 'p256', 'ed'].flatMap((n) => parseCertificates(dearmorAll(readFixture(`${n}.cert.asc`))[0]!.data));
  const ours = certs.flatMap((c) => [c.primary, ...c.subkeys.map((s) => s.key)]);
  const gnupg = colonKeys();

  it('finds every key GnuPG lists, with its fingerprint, key ID, algorithm and creation time', () => {
    expect(ours.map((k) => hex(k.fingerprint))).toEqual(gnupg.map((k) => k.fingerprint));
    expect(ours.map((k) => hex(keyIdOf(k.fingerprint)))).toEqual(gnupg.map((k) => k.keyId));
    expect(ours.map((k) => k.algorithm)).toEqual(gnupg.map((k) => k.algorithm));
    expect(ours.map((k) => k.created)).toEqual(gnupg.map((k) => k.created));
    // GnuPG names curves in field 17; RSA by size.
    expect(ours.map((k) => describeKey(k.material!))).toEqual(gnupg.map((k) => (k.algorithm === 1 ? `rsa${k.bits}` : k.curve)));
  });

  it('rebuilds each key packet byte for byte from its material (so a card key fingerprints as GnuPG would)', () => {
    for (const k of ours) {
      const rebuilt = keyPacketBody({ created: k.created, material: k.material! });
      expect(hex(rebuilt)).toBe(hex(k.body));
      expect(hex(fingerprint({ created: k.created, material: k.material! }))).toBe(hex(k.fingerprint));
    }
  });

  it("matches GnuPG's ECDH KDF parameters per curve", () => {
    const ecdh = ours.filter((k) => k.material?.algorithm === 'ecdh');
    expect(ecdh.length).toBe(4);
    for (const k of ecdh) {
      const m = k.material as Extract<typeof k.material, { algorithm: 'ecdh' }>;
      expect(m.kdf).toEqual(gnupgEcdhKdf(m.curve));
    }
  });

  it('reads the Ed25519Legacy sample key of RFC 9580 §A.3 (draft-koch-eddsa) and its fingerprint', () => {
    const body = Buffer.from('BFPzXwsWCSsGAQQB2kcPAQEHQD8JiZS92RbtQFMZeTTkqHyAczoSgNYvgBCZLkPuOyQG', 'base64');
    const k = parseKeyPacketBody(Uint8Array.from(body));
    expect(hex(k.fingerprint)).toBe('C959BDBAFA32A2F89A153B678CFDE12197965A9A');
    expect(k.material).toMatchObject({ algorithm: 'eddsa', curve: 'ed25519' });
    expect(k.created).toBe(0x53f35f0b);
  });
});
