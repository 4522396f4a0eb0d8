import { createPublicKey, verify, type JsonWebKey, type KeyObject } from 'node:crypto';
import { AgentError, UnsupportedError } from '../errors.js';
import { ECDSA_CURVES, isEcdsaKeyType, RSA_HASH, SshKeyType } from './key-types.js';
import { encodePublicKey, signingPublicKey, type SshPublicKey } from './public-key.js';
import { parseSignature } from './signature.js';

const b64url = (b: Uint8Array): string => Buffer.from(b).toString('base64url');
const fromB64url = (s: string | undefined): Uint8Array => new Uint8Array(Buffer.from(s ?? '', 'base64url'));

/** A node:crypto public KeyObject for an SSH public key (through JWK). */
export function keyObjectFromSshKey(key: SshPublicKey): KeyObject {
  let jwk: JsonWebKey;
  switch (key.type) {
    case SshKeyType.RSA:
      jwk = { kty: 'RSA', n: b64url(key.n), e: b64url(key.e) };
      break;
    case SshKeyType.ED25519:
      jwk = { kty: 'OKP', crv: 'Ed25519', x: b64url(key.publicKey) };
      break;
    default: {
      const c = ECDSA_CURVES[key.type];
      jwk = {
        kty: 'EC',
        crv: c.jwkCurve,
        x: b64url(key.q.subarray(1, 1 + c.fieldBytes)),
        y: b64url(key.q.subarray(1 + c.fieldBytes)),
      };
    }
  }
  return createPublicKey({ key: jwk, format: 'jwk' });
}

function leftPad(b: Uint8Array, size: number): Uint8Array {
  const out = new Uint8Array(size);
  out.set(b, size - b.length);
  return out;
}

/** The SSH public-key blob of a node:crypto key (public or private; RSA, P-256/384/521, Ed25519). */
export function sshPublicKeyBlobFromKeyObject(key: KeyObject): Uint8Array {
  const jwk = key.export({ format: 'jwk' });
  if (jwk.kty === 'RSA') return encodePublicKey({ type: SshKeyType.RSA, e: fromB64url(jwk.e), n: fromB64url(jwk.n) });
  if (jwk.kty === 'OKP' && jwk.crv === 'Ed25519') {
    return encodePublicKey({ type: SshKeyType.ED25519, publicKey: fromB64url(jwk.x) });
  }
  if (jwk.kty === 'EC') {
    for (const [type, c] of Object.entries(ECDSA_CURVES)) {
      if (c.jwkCurve !== jwk.crv || !isEcdsaKeyType(type)) continue;
      const q = new Uint8Array(1 + 2 * c.fieldBytes);
      q[0] = 0x04;
      q.set(leftPad(fromB64url(jwk.x), c.fieldBytes), 1);
      q.set(leftPad(fromB64url(jwk.y), c.fieldBytes), 1 + c.fieldBytes);
      return encodePublicKey({ type, curve: c.sshName, q });
    }
  }
  throw new UnsupportedError(`no SSH encoding for ${jwk.kty}/${jwk.crv ?? ''} keys`);
}

/**
 * A check of SSH signatures by the key `publicKeyBlob` (for a certificate, by the key it
 * certifies), with the key parsed once: the agent checks every card signature before it hands
 * it out, so this sits on the signing path. Malformed blobs, unsupported types and
 * algorithm/key mismatches all give false.
 */
export function sshSignatureVerifier(publicKeyBlob: Uint8Array): (data: Uint8Array, signatureBlob: Uint8Array) => boolean {
  let key: ReturnType<typeof signingPublicKey>;
  let keyObject: KeyObject;
  try {
    key = signingPublicKey(publicKeyBlob);
    keyObject = keyObjectFromSshKey(key);
  } catch (err) {
    if (isRejection(err)) return () => false;
    throw err;
  }
  return (data, signatureBlob) => {
    try {
      const sig = parseSignature(signatureBlob);
      if (key.type === SshKeyType.RSA) {
        if (!(sig.algorithm in RSA_HASH) || !('signature' in sig)) return false;
        // OpenSSH accepts RSA signatures shorter than the modulus and left-pads them.
        const modLen = key.n.length;
        if (sig.signature.length > modLen) return false;
        return verify(RSA_HASH[sig.algorithm as keyof typeof RSA_HASH], data, keyObject, leftPad(sig.signature, modLen));
      }
      if (key.type === SshKeyType.ED25519) {
        if (sig.algorithm !== SshKeyType.ED25519) return false;
        return verify(null, data, keyObject, sig.signature);
      }
      if (sig.algorithm !== key.type || !('r' in sig)) return false;
      const c = ECDSA_CURVES[key.type];
      const rs = new Uint8Array(2 * c.fieldBytes);
      rs.set(leftPad(sig.r, c.fieldBytes), 0);
      rs.set(leftPad(sig.s, c.fieldBytes), c.fieldBytes);
      return verify(c.hash, data, { key: keyObject, dsaEncoding: 'ieee-p1363' }, rs);
    } catch (err) {
      if (isRejection(err)) return false;
      throw err;
    }
  };
}

/** Whether `signatureBlob` is a valid SSH signature over `data` by the key `publicKeyBlob` (see sshSignatureVerifier). */
export function verifySshSignature(publicKeyBlob: Uint8Array, data: Uint8Array, signatureBlob: Uint8Array): boolean {
  return sshSignatureVerifier(publicKeyBlob)(data, signatureBlob);
}

/** Our wire errors, and node:crypto's own (points off the curve and similar): a "no", not a fault. */
function isRejection(err: unknown): boolean {
  return err instanceof AgentError || (err instanceof Error && 'code' in err && String(err.code).startsWith('ERR_'));
}
