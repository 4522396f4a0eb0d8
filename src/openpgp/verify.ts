import { constants, createPublicKey, publicDecrypt, verify as nodeVerify, type KeyObject } from 'node:crypto';
import { p256, p384, p521 } from '@noble/curves/nist.js';
import { UnsupportedError } from '../errors.js';
import { DIGEST_INFO_PREFIX } from '../wire/digest-info.js';
import { HASHES } from './constants.js';
import { keyIdOf, type KeyMaterial } from './key.js';
import { concat } from './packet.js';
import { signatureDigest, type ParsedSignature } from './signature.js';
import { equalBytes } from '../wire/bytes.js';

const NOBLE = { p256, p384, p521 } as const;
const FIELD_BYTES = { p256: 32, p384: 48, p521: 66 } as const;

const b64u = (b: Uint8Array): string => Buffer.from(b).toString('base64url');

function rsaKey(n: Uint8Array, e: Uint8Array): KeyObject {
  return createPublicKey({ key: { kty: 'RSA', n: b64u(n), e: b64u(e) }, format: 'jwk' });
}

function pad(b: Uint8Array, size: number): Uint8Array {
  if (b.length >= size) return b.subarray(b.length - size);
  const out = new Uint8Array(size);
  out.set(b, size - b.length);
  return out;
}

/**
 * Checks a raw signature (as a card returns it: RSA s, ECDSA r || s, Ed25519 R || S) over a
 * digest made with `hashAlgorithm`. Never throws for a bad signature: false.
 */
export function verifyRawSignature(m: KeyMaterial, hashAlgorithm: number, digest: Uint8Array, raw: Uint8Array): boolean {
  const hash = HASHES[hashAlgorithm];
  if (hash === undefined || digest.length !== hash.bytes) return false;
  try {
    if (m.algorithm === 'rsa') {
      const key = rsaKey(m.n, m.e);
      const modBytes = (key.asymmetricKeyDetails?.modulusLength ?? 0) / 8;
      if (raw.length > modBytes) return false;
      const recovered = publicDecrypt({ key, padding: constants.RSA_PKCS1_PADDING }, pad(raw, modBytes));
      return recovered.equals(Buffer.concat([DIGEST_INFO_PREFIX[hash.name], digest]));
    }
    if (m.algorithm === 'ecdsa') {
      if (raw.length !== 2 * FIELD_BYTES[m.curve]) return false;
      return NOBLE[m.curve].verify(raw, digest, m.point, { prehash: false, lowS: false, format: 'compact' });
    }
    if (m.algorithm === 'eddsa') {
      if (raw.length !== 64) return false;
      const key = createPublicKey({ key: { kty: 'OKP', crv: 'Ed25519', x: b64u(m.point) }, format: 'jwk' });
      return nodeVerify(null, digest, key, raw);
    }
    return false;
  } catch {
    return false;
  }
}

/** The raw form of a parsed signature's MPIs, for verifyRawSignature. */
export function rawSignatureOf(m: KeyMaterial, mpis: readonly Uint8Array[]): Uint8Array {
  if (m.algorithm === 'rsa') return mpis[0] ?? new Uint8Array(0);
  if (m.algorithm === 'ecdh') throw new UnsupportedError('ECDH keys do not sign');
  const size = m.algorithm === 'eddsa' ? 32 : FIELD_BYTES[m.curve];
  const [a, b] = mpis;
  if (a === undefined || b === undefined || a.length > size || b.length > size) return new Uint8Array(0);
  return concat([pad(a, size), pad(b, size)]);
}

export type VerifyOutcome =
  | { readonly status: 'good'; readonly digest: Uint8Array }
  | { readonly status: 'bad'; readonly reason: string };

/** Verifies a parsed v4 signature over `input` (the data, or the key/user ID hash inputs) with `key`. */
export function verifySignature(sig: ParsedSignature, key: KeyMaterial, input: readonly Uint8Array[]): VerifyOutcome {
  if (HASHES[sig.hashAlgorithm] === undefined) return { status: 'bad', reason: `unsupported hash algorithm ${sig.hashAlgorithm}` };
  const digest = signatureDigest(sig.hashAlgorithm, input, sig.hashedPart);
  if (digest[0] !== sig.left16[0] || digest[1] !== sig.left16[1]) return { status: 'bad', reason: 'digest does not match the signature (left 16 bits differ)' };
  return verifyRawSignature(key, sig.hashAlgorithm, digest, rawSignatureOf(key, sig.mpis)) ? { status: 'good', digest } : { status: 'bad', reason: 'the signature does not verify' };
}

/** Whether a signature names this key as its issuer (by fingerprint, else by key ID). */
export function issuedBy(sig: ParsedSignature, fpr: Uint8Array): boolean {
  if (sig.issuerFingerprint !== undefined) return equalBytes(sig.issuerFingerprint, fpr);
  return sig.issuerKeyId !== undefined && equalBytes(sig.issuerKeyId, keyIdOf(fpr));
}
