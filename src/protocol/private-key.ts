import type { Reader } from '../wire/reader.js';
import type { Writer } from '../wire/writer.js';
import type { PrivateKey } from './messages.js';

const ECDSA_TYPES = ['ecdsa-sha2-nistp256', 'ecdsa-sha2-nistp384', 'ecdsa-sha2-nistp521'] as const;
type EcdsaType = (typeof ECDSA_TYPES)[number];

function isEcdsa(t: string): t is EcdsaType {
  return (ECDSA_TYPES as readonly string[]).includes(t);
}

/**
 * Reads the private fields that follow the key type name in SSH_AGENTC_ADD_IDENTITY
 * (draft-miller-ssh-agent §3.2.1-3.2.5), or returns null for a type we do not know.
 */
export function readPrivateKey(keyType: string, r: Reader): PrivateKey | null {
  if (keyType === 'ssh-rsa') {
    const n = r.mpint();
    const e = r.mpint();
    const d = r.mpint();
    const iqmp = r.mpint();
    const p = r.mpint();
    const q = r.mpint();
    return { keyType, n, e, d, iqmp, p, q };
  }
  if (isEcdsa(keyType)) {
    const curve = r.string();
    const q = r.bytes();
    const d = r.mpint();
    return { keyType, curve, q, d };
  }
  if (keyType === 'ssh-ed25519') {
    const publicKey = r.bytes();
    const privateKey = r.bytes();
    return { keyType, publicKey, privateKey };
  }
  return null;
}

/** Writes the key type name and the private fields. */
export function writePrivateKey(w: Writer, key: PrivateKey): void {
  w.string(key.keyType);
  switch (key.keyType) {
    case 'ssh-rsa':
      w.bytes(key.n).bytes(key.e).bytes(key.d).bytes(key.iqmp).bytes(key.p).bytes(key.q);
      break;
    case 'ssh-ed25519':
      w.bytes(key.publicKey).bytes(key.privateKey);
      break;
    default:
      w.string(key.curve).bytes(key.q).bytes(key.d);
  }
}
