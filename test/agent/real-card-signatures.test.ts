import { readFileSync } from 'node:fs';
import { createPublicKey, verify } from 'node:crypto';
import { p256, p384, p521 } from '@noble/curves/nist.js';
import { describe, expect, it } from 'vitest';
import { parseAlgorithmAttributes, parsePublicKeyTemplate } from '../../src/card/openpgp/public-key.js';
import { sshKeyBlobOf, signPlanFor } from '../../src/agent/card-ssh.js';
import { verifySshSignature } from '../../src/ssh/verify.js';
import { parseSignature } from '../../src/ssh/signature.js';

interface SignatureVector {
  readonly algorithm: string;
  readonly public_key_7f49: string;
  readonly input: string;
  readonly signature: string;
}
const yk = JSON.parse(readFileSync(new URL('../../fixtures/cards/yubikey5-fw5.4.3.json', import.meta.url), 'utf8')) as { signature_vectors: readonly SignatureVector[] };
const unhex = (s: string): Uint8Array => Uint8Array.from(Buffer.from(s, 'hex'));

// Raw signatures a real YubiKey 5 made, turned into SSH signatures the way the agent does it.
describe('YubiKey 5 signature vectors as SSH signatures', () => {
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
