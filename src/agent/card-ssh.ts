import { UnsupportedError } from '../errors.js';
import type { CardPublicKey } from '../card/openpgp/public-key.js';
import { SshKeyType, SshSignatureAlgorithm, type EcdsaKeyType } from '../ssh/key-types.js';
import { encodePublicKey, ecdsaPublicKey } from '../ssh/public-key.js';
import { ecdsaSignatureFromRaw, encodeSignature, rsaAlgorithmForFlags } from '../ssh/signature.js';

/**
 * The bridge between the card's neutral key and signature forms and SSH's wire forms. This is
 * the only place that knows both: card/ knows no SSH, ssh/ knows no cards.
 */

export type CardHash = 'sha1' | 'sha256' | 'sha384' | 'sha512';

const ECDSA_TYPE: Record<'p256' | 'p384' | 'p521', { type: EcdsaKeyType; hash: CardHash }> = {
  p256: { type: SshKeyType.ECDSA_P256, hash: 'sha256' },
  p384: { type: SshKeyType.ECDSA_P384, hash: 'sha384' },
  p521: { type: SshKeyType.ECDSA_P521, hash: 'sha512' },
};

/** RSA keys below this size are not offered (OpenSSH's own floor is 1024; 2048 is what it generates). */
export const RSA_MINIMUM_BITS = 2048;

/** Why OpenSSH cannot (or should not) use a card key, or undefined when it can. This is the agent's call, not the card's. */
export function sshUnusableReason(key: CardPublicKey): string | undefined {
  if (key.kind === 'rsa') {
    // The modulus arrives without leading zero bytes.
    const bits = key.n.length === 0 ? 0 : (key.n.length - 1) * 8 + (32 - Math.clz32(key.n[0]!));
    return bits < RSA_MINIMUM_BITS ? `RSA ${bits} is too small for SSH (at least ${RSA_MINIMUM_BITS} bits)` : undefined;
  }
  return undefined;
}

/** The SSH public-key blob of a card key (RFC 4253 §6.6, RFC 5656 §3.1, RFC 8709 §4). */
export function sshKeyBlobOf(key: CardPublicKey): Uint8Array {
  switch (key.kind) {
    case 'rsa':
      return encodePublicKey({ type: SshKeyType.RSA, e: key.e, n: key.n });
    case 'ecdsa':
      return encodePublicKey(ecdsaPublicKey(ECDSA_TYPE[key.curve].type, key.point));
    case 'eddsa':
      return encodePublicKey({ type: SshKeyType.ED25519, publicKey: key.point });
    default:
      throw new UnsupportedError(`card key cannot be used for SSH: ${describeUnsupported(key)}`);
  }
}

function describeUnsupported(key: CardPublicKey): string {
  return 'reason' in key ? String((key as { reason: unknown }).reason) : key.kind;
}

/** What INTERNAL AUTHENTICATE must be asked for, for a sign request with these flags. */
export interface SignPlan {
  /** The hash the card input is built with (RSA DigestInfo, ECDSA digest); EdDSA signs raw. */
  readonly hash: CardHash;
  /** Turns the card's raw signature into the SSH signature blob. */
  toSshSignature(raw: Uint8Array): Uint8Array;
}

/** RSA honours SSH_AGENT_RSA_SHA2_256/512 (SHA-1 only when neither flag is set); ECDSA uses the curve's hash. */
export function signPlanFor(key: CardPublicKey, flags: number): SignPlan {
  switch (key.kind) {
    case 'rsa': {
      const algorithm = rsaAlgorithmForFlags(flags);
      const hash: CardHash =
        algorithm === SshSignatureAlgorithm.RSA_SHA2_512 ? 'sha512' : algorithm === SshSignatureAlgorithm.RSA_SHA2_256 ? 'sha256' : 'sha1';
      return { hash, toSshSignature: (raw) => encodeSignature({ algorithm, signature: leftPad(raw, key.n.length) }) };
    }
    case 'ecdsa': {
      const { type, hash } = ECDSA_TYPE[key.curve];
      return { hash, toSshSignature: (raw) => ecdsaSignatureFromRaw(type, raw) };
    }
    case 'eddsa':
      return {
        hash: 'sha512',
        toSshSignature: (raw) => encodeSignature({ algorithm: SshSignatureAlgorithm.ED25519, signature: raw }),
      };
    default:
      throw new UnsupportedError(`card key cannot be used for SSH: ${describeUnsupported(key)}`);
  }
}

/** RSA signatures are modulus-sized on the wire (RFC 8332 §3); some cards drop leading zeros. */
function leftPad(raw: Uint8Array, size: number): Uint8Array {
  if (raw.length >= size) return raw;
  const out = new Uint8Array(size);
  out.set(raw, size - raw.length);
  return out;
}
