import { generateKeyPairSync, sign as nodeSign } from 'node:crypto';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { describe, expect, it } from 'vitest';
import type { CardKeys } from '../../src/gpg/card-keys.js';
import { loadCertificates, type KnownCertificate } from '../../src/gpg/certificates.js';
import type { GpgIo } from '../../src/gpg/io.js';
import { armor } from '../../src/openpgp/armor.js';
import { selectSigningKey } from '../../src/gpg/select.js';
import { makeCertificate, parseCertificates } from '../../src/openpgp/certificate.js';
import { KeyFlag } from '../../src/openpgp/constants.js';
import { fingerprint, type PublicKey } from '../../src/openpgp/key.js';
import { toHex } from '../../src/openpgp/packet.js';

function edKey(created: number): { key: PublicKey; signDigest: (d: Uint8Array) => Uint8Array } {
  const pair = generateKeyPairSync('ed25519');
  const x = Uint8Array.from(Buffer.from(pair.publicKey.export({ format: 'jwk' }).x!, 'base64url'));
  return { key: { created, material: { algorithm: 'eddsa', curve: 'ed25519', point: x } }, signDigest: (d) => Uint8Array.from(nodeSign(null, d, pair.privateKey)) };
}

function card(ident: string, k: PublicKey): CardKeys {
  return { ident, signature: { ident, slot: 'signature', key: k, fingerprint: fingerprint(k), matchesCard: true } };
}

async function certFor(primary: ReturnType<typeof edKey>, userId: string, subkeys: PublicKey[] = []): Promise<KnownCertificate> {
  const bytes = await makeCertificate({ primary: primary.key, userId, subkeys: subkeys.map((key) => ({ key, flags: KeyFlag.AUTHENTICATE })), hashAlgorithm: 8, created: primary.key.created, sign: async (p) => primary.signDigest(p.digest) });
  const [certificate] = parseCertificates(bytes);
  return { certificate: certificate!, file: 'x.asc', validUserIds: certificate!.userIds.map((u) => u.text) };
}

describe('choosing the card key from what git passes as -u', () => {
  const a = edKey(1_600_000_000);
  const b = edKey(1_600_000_001);
  const cards = [card('0006:00000001', a.key), card('0006:00000002', b.key)];
  const fa = toHex(fingerprint(a.key));

  it('by fingerprint (with spaces, 0x, trailing !), long and short key ID, needing no certificate', () => {
    for (const spec of [fa, fa.toLowerCase(), `0x${fa}`, `${fa}!`, fa.replace(/(.{4})/g, '$1 '), fa.slice(-16), fa.slice(-8)]) {
      const c = selectSigningKey(spec, cards, []);
      expect(c.card.ident, spec).toBe('0006:00000001');
      expect(toHex(c.primaryFingerprint)).toBe(fa);
      expect(c.byEmail).toBeUndefined();
    }
  });

  it("by the committer's \"Name <email>\", the bare e-mail, or a name, through a known certificate", async () => {
    const certs = [await certFor(b, 'Bea Example <Bea@Example.org>')];
    for (const spec of ['Bea Example <bea@example.org>', 'bea@example.org', '<BEA@example.org>']) {
      const c = selectSigningKey(spec, cards, certs);
      expect(c.card.ident, spec).toBe('0006:00000002');
      expect(c.userId).toBe('Bea Example <Bea@Example.org>');
      expect(c.byEmail).toBe('bea@example.org');
    }
    expect(selectSigningKey('bea exam', cards, certs).card.ident).toBe('0006:00000002');
    expect(() => selectSigningKey('Someone <else@example.org>', cards, certs)).toThrow(/user\.signingkey/);
    expect(() => selectSigningKey('Bea Example <bea@example.org>', cards, [])).toThrow(/certificate/);
  });

  it("a card key that is a subkey of the user's certificate is found by the primary's key ID, and VALIDSIG names the primary", async () => {
    const offline = edKey(1_500_000_000);
    const certs = [await certFor(offline, 'Off Line <off@example.org>', [a.key])];
    const primaryFpr = toHex(fingerprint(offline.key));
    const c = selectSigningKey(primaryFpr.slice(-16), cards, certs);
    expect(c.card.ident).toBe('0006:00000001');
    expect(toHex(c.primaryFingerprint)).toBe(primaryFpr);
    expect(selectSigningKey('off@example.org', cards, certs).card.ident).toBe('0006:00000001');
  });

  it('certificates are read from the directory; a user ID whose self-signature does not verify is not used', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'oca-certs-'));
    try {
      const good = await makeCertificate({ primary: b.key, userId: 'Bea <bea@example.org>', subkeys: [], hashAlgorithm: 8, created: b.key.created, sign: async (p) => b.signDigest(p.digest) });
      // The same certificate with the user ID swapped for another of the same length: its self-signature no longer covers it.
      const forged = Buffer.from(good);
      const at = forged.indexOf('bea@example.org');
      forged.write('eve@example.org', at);
      await writeFile(join(dir, 'bea.asc'), armor('PUBLIC KEY BLOCK', good));
      await writeFile(join(dir, 'eve.gpg'), forged);
      await writeFile(join(dir, 'notes.txt'), 'not a certificate');
      const io = { env: { OPENPGP_CARD_AGENT_CERTIFICATES: dir }, readFile: async (p: string) => Uint8Array.from(await readFile(p)), writeStderr: async () => undefined } as unknown as GpgIo;
      const certs = await loadCertificates(io);
      expect(certs.map((c) => [basename(c.file), c.validUserIds])).toEqual([
        ['bea.asc', ['Bea <bea@example.org>']],
        ['eve.gpg', []],
      ]);
      expect(selectSigningKey('bea@example.org', cards, certs).card.ident).toBe('0006:00000002');
      expect(() => selectSigningKey('eve@example.org', cards, certs)).toThrow(/no known certificate/);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('an unknown key names the plugged cards', () => {
    expect(() => selectSigningKey('0123456789ABCDEF', cards, [])).toThrow(/0006:00000001 signature key/);
    expect(() => selectSigningKey('0123456789ABCDEF', [], [])).toThrow(/lists no card/);
  });
});
