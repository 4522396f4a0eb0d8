import { UnsupportedError, WireFormatError } from '../errors.js';
import { equalBytes } from '../wire/bytes.js';
import { Reader } from '../wire/reader.js';
import { Writer } from '../wire/writer.js';
import { ECDSA_CURVES, isEcdsaKeyType, SshKeyType, type EcdsaKeyType } from './key-types.js';

/** A parsed SSH public key. Integers are unsigned big-endian magnitudes without leading zeros. */
export type SshPublicKey =
  /** RFC 4253 §6.6 */
  | { readonly type: typeof SshKeyType.RSA; readonly e: Uint8Array; readonly n: Uint8Array }
  /** RFC 5656 §3.1: Q is the uncompressed point 04 || X || Y. */
  | { readonly type: EcdsaKeyType; readonly curve: string; readonly q: Uint8Array }
  /** RFC 8709 §4 */
  | { readonly type: typeof SshKeyType.ED25519; readonly publicKey: Uint8Array };

/** Reads an SSH mpint that must be non-negative; returns its magnitude without leading zeros. */
export function readUnsignedMpint(r: Reader, what: string): Uint8Array {
  const at = r.offset;
  const b = r.mpint();
  if (b.length > 0 && (b[0]! & 0x80) !== 0) throw new WireFormatError(`${what} is negative`, at);
  let i = 0;
  while (i < b.length && b[i] === 0) i++;
  return b.subarray(i);
}

/** Checks an uncompressed EC point's shape for `type`. */
export function checkEcPoint(type: EcdsaKeyType, q: Uint8Array, at: number): void {
  const size = ECDSA_CURVES[type].fieldBytes;
  if (q.length !== 1 + 2 * size || q[0] !== 0x04) {
    throw new WireFormatError(`${type} point must be 04||X||Y of ${1 + 2 * size} bytes, got ${q.length}`, at);
  }
}

/** Reads the key fields after the type name. */
export function readPublicKeyFields(type: string, r: Reader): SshPublicKey {
  if (type === SshKeyType.RSA) {
    const e = readUnsignedMpint(r, 'RSA exponent');
    const n = readUnsignedMpint(r, 'RSA modulus');
    if (e.length === 0 || n.length === 0) throw new WireFormatError('RSA key with zero e or n', r.offset);
    return { type, e, n };
  }
  if (isEcdsaKeyType(type)) {
    const at = r.offset;
    const curve = r.string();
    if (curve !== ECDSA_CURVES[type].sshName) {
      throw new WireFormatError(`curve "${curve}" does not match key type ${type}`, at);
    }
    const qAt = r.offset;
    const q = r.bytes();
    checkEcPoint(type, q, qAt);
    return { type, curve, q };
  }
  if (type === SshKeyType.ED25519) {
    const at = r.offset;
    const publicKey = r.bytes();
    if (publicKey.length !== 32) throw new WireFormatError(`ed25519 key of ${publicKey.length} bytes`, at);
    return { type, publicKey };
  }
  throw new UnsupportedError(`unsupported SSH key type "${type}"`);
}

/**
 * Parses an SSH public-key blob. Throws WireFormatError on malformed bytes and UnsupportedError
 * for key types we do not handle (certificates, sk-*, DSA).
 */
export function parsePublicKey(blob: Uint8Array): SshPublicKey {
  const r = new Reader(blob);
  const type = r.string();
  const key = readPublicKeyFields(type, r);
  r.end('public key blob');
  return key;
}

/** OpenSSH certificate key types and the plain key type each one certifies (PROTOCOL.certkeys). */
export const CERTIFICATE_KEY_TYPES: Readonly<Record<string, SshPublicKey['type']>> = {
  'ssh-rsa-cert-v01@openssh.com': SshKeyType.RSA,
  'ecdsa-sha2-nistp256-cert-v01@openssh.com': 'ecdsa-sha2-nistp256',
  'ecdsa-sha2-nistp384-cert-v01@openssh.com': 'ecdsa-sha2-nistp384',
  'ecdsa-sha2-nistp521-cert-v01@openssh.com': 'ecdsa-sha2-nistp521',
  'ssh-ed25519-cert-v01@openssh.com': SshKeyType.ED25519,
};

/**
 * The key that signs for a public-key blob: the blob's own key, or for an OpenSSH certificate
 * (a server with a HostCertificate sends one in session-bind) the key it certifies. Certificate
 * fields after the key (serial, principals, validity, CA signature) are not read or checked: like
 * ssh-agent's sshkey_verify, this only answers "which key made this signature".
 */
export function signingPublicKey(blob: Uint8Array): SshPublicKey {
  const r = new Reader(blob);
  const type = r.string();
  const certified = CERTIFICATE_KEY_TYPES[type];
  if (certified === undefined) {
    const key = readPublicKeyFields(type, r);
    r.end('public key blob');
    return key;
  }
  r.bytes(); // nonce
  return readPublicKeyFields(certified, r);
}

/** A plain key's canonical blob (its fields re-encoded), or undefined for what is not one (certificates, unknown types, malformed blobs). */
export function canonicalPlainKey(blob: Uint8Array): Uint8Array | undefined {
  try {
    return encodePublicKey(parsePublicKey(blob));
  } catch (err) {
    if (err instanceof WireFormatError || err instanceof UnsupportedError) return undefined;
    throw err;
  }
}

/** sshkey_equal: the same blob, or the same plain key whatever its mpint padding. */
export function sameKey(a: Uint8Array, b: Uint8Array): boolean {
  if (equalBytes(a, b)) return true;
  const ca = canonicalPlainKey(a);
  const cb = canonicalPlainKey(b);
  return ca !== undefined && cb !== undefined && equalBytes(ca, cb);
}

/** The key type name at the start of a blob, without parsing the rest. */
export function publicKeyType(blob: Uint8Array): string {
  return new Reader(blob).string();
}

/** Encodes an SSH public-key blob (canonical mpints). */
export function encodePublicKey(key: SshPublicKey): Uint8Array {
  const w = new Writer();
  w.string(key.type);
  switch (key.type) {
    case SshKeyType.RSA:
      w.mpintUnsigned(key.e).mpintUnsigned(key.n);
      break;
    case SshKeyType.ED25519:
      w.bytes(key.publicKey);
      break;
    default:
      w.string(key.curve).bytes(key.q);
  }
  return w.toBytes();
}

/** An ECDSA public key from its curve and uncompressed point (as an OpenPGP card returns it). */
export function ecdsaPublicKey(type: EcdsaKeyType, q: Uint8Array): SshPublicKey {
  checkEcPoint(type, q, 0);
  return { type, curve: ECDSA_CURVES[type].sshName, q };
}
