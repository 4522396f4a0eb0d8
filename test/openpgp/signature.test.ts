import { constants, createHash, generateKeyPairSync, privateEncrypt, sign as nodeSign, type KeyObject } from 'node:crypto';
import { p256, p384, p521 } from '@noble/curves/nist.js';
import fc from 'fast-check';
import * as openpgp from 'openpgp';
import { describe, expect, it } from 'vitest';
import { armor, dearmorAll } from '../../src/openpgp/armor.js';
import { makeCertificate, parseCertificates } from '../../src/openpgp/certificate.js';
import { HashAlgorithm, KeyFlag } from '../../src/openpgp/constants.js';
import { fingerprint, keyHashInput, type KeyMaterial, type PublicKey } from '../../src/openpgp/key.js';
import { parsePackets } from '../../src/openpgp/packet.js';
import { documentSignature, parseSignaturePacketBody, userIdHashInput, type PendingSignature } from '../../src/openpgp/signature.js';
import { verifyRawSignature, verifySignature } from '../../src/openpgp/verify.js';
import { readFixture, readFixtureBytes } from './fixtures.js';

const hex = (b: Uint8Array): string => Buffer.from(b).toString('hex').toUpperCase();
const b64u = (s: string | undefined): Uint8Array => Uint8Array.from(Buffer.from(s ?? '', 'base64url'));

describe('verifying what GnuPG 2.2.40 made', () => {
  const payload = readFixtureBytes('payload.txt');
  for (const name of ['rsa', 'p256', 'ed']) {
    it(`${name}: the detached signature, the user ID self-signature and every subkey binding verify; a changed payload does not`, () => {
      const [cert] = parseCertificates(dearmorAll(readFixture(`${name}.cert.asc`))[0]!.data);
      const [sigPacket] = parsePackets(dearmorAll(readFixture(`${name}.sig.asc`))[0]!.data);
      const sig = parseSignaturePacketBody(sigPacket!.body);
      const key = cert!.primary.material!;
      expect(sig.type).toBe(0x00);
      expect(hex(sig.issuerFingerprint!)).toBe(hex(cert!.primary.fingerprint));
      expect(sig.created).toBe(Date.UTC(2024, 1, 3, 4, 5, 6) / 1000);
      expect(verifySignature(sig, key, [payload]).status).toBe('good');
      expect(verifySignature(sig, key, [Uint8Array.from([...payload, 0x0a])]).status).toBe('bad');

      const primaryInput = keyHashInput(cert!.primary.body);
      const uid = cert!.userIds[0]!;
      expect(verifySignature(uid.signatures[0]!, key, [primaryInput, userIdHashInput(new TextEncoder().encode(uid.text))]).status).toBe('good');
      for (const sk of cert!.subkeys) {
        expect(verifySignature(sk.signatures[0]!, key, [primaryInput, keyHashInput(sk.key.body)]).status).toBe('good');
      }
    });
  }
});

/** Test keys signed with node:crypto / noble (the card's part), independent of the code under test. */
type TestKey = { name: string; key: PublicKey; signDigest: (digest: Uint8Array, hash: number) => Uint8Array; hash: number };

const DIGEST_INFO: Record<number, string> = {
  [HashAlgorithm.SHA256]: '3031300d060960864801650304020105000420',
  [HashAlgorithm.SHA512]: '3051300d060960864801650304020305000440',
};

function testKeys(): TestKey[] {
  const created = 1_700_000_000;
  const rsa = generateKeyPairSync('rsa', { modulusLength: 2048 });
  const rsaJwk = rsa.publicKey.export({ format: 'jwk' });
  const out: TestKey[] = [
    {
      name: 'rsa2048',
      key: { created, material: { algorithm: 'rsa', n: b64u(rsaJwk.n), e: b64u(rsaJwk.e) } },
      signDigest: (d, h) => Uint8Array.from(privateEncrypt({ key: rsa.privateKey, padding: constants.RSA_PKCS1_PADDING }, Buffer.concat([Buffer.from(DIGEST_INFO[h]!, 'hex'), d]))),
      hash: HashAlgorithm.SHA256,
    },
  ];
  const noble = { p256, p384, p521 } as const;
  for (const [curve, hash] of [
    ['p256', HashAlgorithm.SHA256],
    ['p384', HashAlgorithm.SHA384],
    ['p521', HashAlgorithm.SHA512],
  ] as const) {
    const secret = noble[curve].utils.randomSecretKey();
    out.push({
      name: curve,
      key: { created, material: { algorithm: 'ecdsa', curve, point: noble[curve].getPublicKey(secret, false) } },
      signDigest: (d) => noble[curve].sign(d, secret, { prehash: false, format: 'compact' }),
      hash,
    });
  }
  const ed = generateKeyPairSync('ed25519');
  out.push({
    name: 'ed25519',
    key: { created, material: { algorithm: 'eddsa', curve: 'ed25519', point: b64u(ed.publicKey.export({ format: 'jwk' }).x) } },
    signDigest: (d) => Uint8Array.from(nodeSign(null, d, ed.privateKey as KeyObject)),
    hash: HashAlgorithm.SHA256,
  });
  return out;
}

function subkeysFor(t: TestKey): { key: PublicKey; flags: number }[] {
  const x = generateKeyPairSync('x25519').publicKey.export({ format: 'jwk' });
  const dec: KeyMaterial = { algorithm: 'ecdh', curve: 'cv25519', point: b64u(x.x), kdf: { hash: 8, cipher: 7 } };
  const ed = generateKeyPairSync('ed25519').publicKey.export({ format: 'jwk' });
  return [
    { key: { created: t.key.created + 1, material: { algorithm: 'eddsa', curve: 'ed25519', point: b64u(ed.x) } }, flags: KeyFlag.AUTHENTICATE },
    { key: { created: t.key.created + 2, material: dec }, flags: KeyFlag.ENCRYPT_COMMUNICATIONS | KeyFlag.ENCRYPT_STORAGE },
  ];
}

describe('our signatures and certificates, checked by OpenPGP.js (an independent implementation)', () => {
  for (const t of testKeys()) {
    it(`${t.name}: a certificate with user ID and subkeys, and a detached signature, verify`, async () => {
      const sign = async (p: PendingSignature): Promise<Uint8Array> => t.signDigest(p.digest, p.hashAlgorithm);
      const cert = await makeCertificate({ primary: t.key, userId: 'Card User <card@example.org>', subkeys: subkeysFor(t), hashAlgorithm: t.hash, created: t.key.created + 10, sign });
      const pubKey = await openpgp.readKey({ armoredKey: armor('PUBLIC KEY BLOCK', cert) });
      expect(pubKey.getFingerprint().toUpperCase()).toBe(hex(fingerprint(t.key)));
      await pubKey.verifyPrimaryKey(new Date((t.key.created + 100) * 1000));
      const user = await pubKey.getPrimaryUser(new Date((t.key.created + 100) * 1000));
      expect(user.user.userID?.email).toBe('card@example.org');
      for (const sk of pubKey.getSubkeys()) await sk.verify(new Date((t.key.created + 100) * 1000));
      expect(pubKey.getSubkeys().length).toBe(2);

      const data = new TextEncoder().encode('tree 4b825dc642cb6eb9a060e54bf8d69288fbee4904\nauthor A <a@b> 1 +0000\n\nmsg\n');
      const signer = { key: t.key, fingerprint: fingerprint(t.key) };
      const pending = documentSignature(signer, data, { hashAlgorithm: t.hash, created: t.key.created + 50 });
      const raw = t.signDigest(pending.digest, t.hash);
      expect(verifyRawSignature(t.key.material, t.hash, pending.digest, raw)).toBe(true);
      const packet = pending.finish(raw);
      const result = await openpgp.verify({
        message: await openpgp.createMessage({ binary: data }),
        signature: await openpgp.readSignature({ armoredSignature: armor('SIGNATURE', packet) }),
        verificationKeys: pubKey,
        date: new Date((t.key.created + 100) * 1000),
        expectSigned: true,
        format: 'binary',
      });
      await expect(result.signatures[0]!.verified).resolves.toBe(true);
      // Our own verifier agrees, and refuses a changed payload.
      const parsed = parseSignaturePacketBody(parsePackets(packet)[0]!.body);
      expect(verifySignature(parsed, t.key.material, [data]).status).toBe('good');
      expect(verifySignature(parsed, t.key.material, [Uint8Array.from([...data, 1])]).status).toBe('bad');
    });
  }

  it('Ed25519: any payload signed through the pending-signature path verifies in OpenPGP.js', async () => {
    const t = testKeys().find((k) => k.name === 'ed25519')!;
    const cert = await makeCertificate({ primary: t.key, userId: 'E <e@example.org>', subkeys: [], hashAlgorithm: t.hash, created: t.key.created, sign: async (p) => t.signDigest(p.digest, p.hashAlgorithm) });
    const pubKey = await openpgp.readKey({ binaryKey: cert });
    await fc.assert(
      fc.asyncProperty(fc.uint8Array({ maxLength: 2000 }), fc.integer({ min: t.key.created, max: 0x7fffffff }), async (data, created) => {
        const p = documentSignature({ key: t.key, fingerprint: fingerprint(t.key) }, data, { hashAlgorithm: t.hash, created });
        const packet = p.finish(t.signDigest(p.digest, t.hash));
        const res = await openpgp.verify({
          message: await openpgp.createMessage({ binary: data }),
          signature: await openpgp.readSignature({ binarySignature: packet }),
          verificationKeys: pubKey,
          date: new Date(created * 1000),
          format: 'binary',
        });
        await expect(res.signatures[0]!.verified).resolves.toBe(true);
      }),
      { numRuns: 25 },
    );
  });

  it('a raw signature of another digest, of the wrong length or by another key is refused', () => {
    const [a, b] = [testKeys(), testKeys()];
    for (let i = 0; i < a.length; i++) {
      const t = a[i]!;
      const digest = Uint8Array.from(createHash('sha256').update('x').digest());
      const d = t.hash === HashAlgorithm.SHA256 ? digest : Uint8Array.from(createHash(t.hash === HashAlgorithm.SHA384 ? 'sha384' : 'sha512').update('x').digest());
      const raw = t.signDigest(d, t.hash);
      expect(verifyRawSignature(t.key.material, t.hash, d, raw), t.name).toBe(true);
      const other = Uint8Array.from(d);
      other[0]! ^= 1;
      expect(verifyRawSignature(t.key.material, t.hash, other, raw), t.name).toBe(false);
      expect(verifyRawSignature(t.key.material, t.hash, d, raw.subarray(1)), t.name).toBe(false);
      expect(verifyRawSignature(b[i]!.key.material, t.hash, d, raw), t.name).toBe(false);
    }
  });
});
