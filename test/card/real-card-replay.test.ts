import { readFileSync } from 'node:fs';
import { createPublicKey, verify } from 'node:crypto';
import { p256, p384, p521 } from '@noble/curves/nist.js';
import { describe, expect, it } from 'vitest';
import { findTlv, parseTlv } from '../../src/card/iso7816/tlv.js';
import { parseApplicationData } from '../../src/card/openpgp/application-data.js';
import { OpenPgpCard } from '../../src/card/openpgp/openpgp-card.js';
import { parseAlgorithmAttributes, parsePublicKeyTemplate } from '../../src/card/openpgp/public-key.js';
import { sshKeyBlobOf, signPlanFor } from '../../src/agent/card-ssh.js';
import { verifySshSignature } from '../../src/ssh/verify.js';
import { parseSignature } from '../../src/ssh/signature.js';
import { ReplayTransport, type RecordedApdu } from './replay-transport.js';

interface SignatureVector {
  readonly algorithm: string;
  readonly public_key_7f49: string;
  readonly input: string;
  readonly signature: string;
}
interface CardFixture {
  readonly select: RecordedApdu;
  readonly ard_short_first: RecordedApdu;
  readonly ard_short_rest: RecordedApdu;
  readonly pw_status: RecordedApdu;
  readonly algorithm_information: RecordedApdu;
  readonly signature_vectors: readonly SignatureVector[];
  readonly apdus: readonly RecordedApdu[];
}
const fixture = (name: string): CardFixture => JSON.parse(readFileSync(new URL(`../../fixtures/cards/${name}`, import.meta.url), 'utf8'));
const yk = fixture('yubikey5-fw5.4.3.json');
const spgp = fixture('smartpgp.json');
const unhex = (s: string): Uint8Array => Uint8Array.from(Buffer.from(s, 'hex'));

describe('YubiKey 5 (firmware 5.4.3) recordings', () => {
  it('opens the card: SELECT, then 6E in two parts through 61xx and GET RESPONSE', async () => {
    const script: RecordedApdu[] = [yk.select, yk.ard_short_first, yk.ard_short_rest];
    const t = new ReplayTransport(script);
    // The host starts in short mode: it does not know the card's limits before reading 6E.
    const card = await OpenPgpCard.open(t);
    expect(t.done).toBe(true);
    expect(t.sent[2]!.startsWith('00c00000')).toBe(true);
    const ard = card.applicationData;
    expect(card.ident).toBe('0006:23852774');
    expect(ard.aid.version).toBe('3.4');
    expect(ard.extendedLength).toBe(true);
    expect(ard.maxCommandBytes).toBe(0x0bfe);
    expect(ard.maxResponseBytes).toBe(0x0bfe);
    expect(ard.algorithms.aut).toEqual({ algorithm: 'rsa', bits: 2048, exponentBits: 17, importFormat: 0 });
    expect(ard.pwStatus?.retriesPw1).toBe(3);
    expect(ard.pwStatus?.retriesPw3).toBe(3);
    expect(ard.touch.aut).toBe('off');
    expect(ard.kdfSupported).toBe(true);
    // After 6E the channel uses extended length as 7F66 allows.
    expect(card.channel.getLimits()).toEqual({ extended: true, maxCommandData: 0x0bfe, maxResponse: 0x0bfe });
  });

  it('reads PW status and the (absent) KDF-DO with the recorded responses', async () => {
    const t = new ReplayTransport([yk.select, yk.ard_short_first, yk.ard_short_rest, yk.pw_status]);
    const card = await OpenPgpCard.open(t);
    expect(await card.pw1Retries()).toBe(3);
    expect(t.done).toBe(true);
  });

  it('parses the algorithm information although its outer length overstates the content', () => {
    const resp = unhex(yk.algorithm_information.resp).subarray(0, -2);
    const objs = parseTlv(resp);
    expect(objs).toHaveLength(1);
    const fa = objs[0]!;
    expect(fa.tag).toBe(0xfa);
    const auth = fa.children.filter((c) => c.tag === 0xc3).map((c) => parseAlgorithmAttributes(c.value));
    expect(auth.some((a) => a.algorithm === 'eddsa' && a.curve === 'ed25519')).toBe(true);
    expect(auth.some((a) => a.algorithm === 'ecdsa' && a.curve === 'p384')).toBe(true);
    expect(auth.some((a) => a.algorithm === 'rsa' && a.bits === 4096)).toBe(true);
  });

  const NOBLE = { secp256r1: p256, secp384r1: p384, secp521r1: p521 } as const;
  for (const [i, v] of yk.signature_vectors.entries()) {
    it(`signature vector ${i} (${v.algorithm}, ${v.input.length / 2}-byte input) verifies and becomes a valid SSH signature`, () => {
      const isEd = v.algorithm === 'Ed25519';
      const attrs = isEd
        ? parseAlgorithmAttributes(unhex('162b06010401da470f01'))
        : parseAlgorithmAttributes(unhex({ secp256r1: '132a8648ce3d030107', secp384r1: '132b81040022', secp521r1: '132b81040023' }[v.algorithm as 'secp256r1']!));
      const key = parsePublicKeyTemplate(unhex(v.public_key_7f49), attrs);
      const blob = sshKeyBlobOf(key);
      const raw = unhex(v.signature);
      const sshSig = signPlanFor(key, 0).toSshSignature(raw);
      if (isEd) {
        // EdDSA signs the input itself: the SSH signature verifies over the same bytes.
        expect(verifySshSignature(blob, unhex(v.input), sshSig)).toBe(true);
        expect(verifySshSignature(blob, unhex(v.input).map((b, j) => (j === 0 ? b ^ 1 : b)), sshSig)).toBe(false);
        const pub = createPublicKey({ key: { kty: 'OKP', crv: 'Ed25519', x: Buffer.from(key.kind === 'eddsa' ? key.point : []).toString('base64url') }, format: 'jwk' });
        expect(verify(null, unhex(v.input), pub, raw)).toBe(true);
      } else {
        // ECDSA over a digest the card was given: check r||s against the point, and the SSH form's r and s.
        const curve = NOBLE[v.algorithm as keyof typeof NOBLE];
        const point = key.kind === 'ecdsa' ? key.point : new Uint8Array(0);
        expect(curve.verify(raw, unhex(v.input), point, { prehash: false, lowS: false })).toBe(true);
        const parsed = parseSignature(sshSig);
        expect(parsed.algorithm).toBe({ secp256r1: 'ecdsa-sha2-nistp256', secp384r1: 'ecdsa-sha2-nistp384', secp521r1: 'ecdsa-sha2-nistp521' }[v.algorithm as 'secp256r1']);
        expect(new TextDecoder().decode(blob.subarray(4, 4 + 19))).toBe(parsed.algorithm);
        const half = raw.length / 2;
        if ('r' in parsed) {
          expect(Buffer.from(parsed.r).toString('hex')).toBe(Buffer.from(raw.subarray(0, half)).toString('hex').replace(/^(00)+/, ''));
          expect(Buffer.from(parsed.s).toString('hex')).toBe(Buffer.from(raw.subarray(half)).toString('hex').replace(/^(00)+/, ''));
        } else throw new Error('expected an ECDSA signature');
      }
    });
  }
});

describe('SmartPGP recordings', () => {
  for (const [i, a] of spgp.apdus.entries()) {
    it(`parses application related data ${i}`, () => {
      const ard = parseApplicationData(unhex(a.resp).subarray(0, -2));
      expect(ard.aid.ident).toMatch(/^[0-9A-F]{4}:[0-9A-F]{8}$/);
      // Compact-TLV historical bytes with a C1 header before the capabilities: chaining yes, extended no.
      expect(ard.commandChaining).toBe(true);
      expect(ard.extendedLength).toBe(false);
      expect(ard.algorithms.aut?.algorithm).toBe('rsa');
      expect(ard.pwStatus?.retriesPw1).toBe(3);
    });
  }

  it('reads the v3.4 card with RSA 3072 authentication key and the BEEF manufacturer', () => {
    const a = spgp.apdus[1]!;
    const ard = parseApplicationData(unhex(a.resp).subarray(0, -2));
    expect(ard.aid.ident).toBe('BEEF:00000000');
    expect(ard.algorithms.aut).toMatchObject({ algorithm: 'rsa', bits: 3072, importFormat: 3 });
    expect(ard.algorithms.sig).toMatchObject({ algorithm: 'rsa', bits: 4096 });
    expect(findTlv(parseTlv(unhex(a.resp).subarray(0, -2)), 0x7f66)).toBeUndefined();
  });
});
