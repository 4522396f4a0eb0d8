import { UnsupportedError, WireFormatError } from '../errors.js';
import { Reader } from '../wire/reader.js';
import { CERTIFICATE_KEY_TYPES, parsePublicKey, readPublicKeyFields, type SshPublicKey } from './public-key.js';
import { parseSignature } from './signature.js';
import { verifySshSignature } from './verify.js';

/** PROTOCOL.certkeys: certificate types. */
export const SSH2_CERT_TYPE_USER = 1;
export const SSH2_CERT_TYPE_HOST = 2;

/**
 * Signature algorithms OpenSSH accepts from a certificate authority (SSH_ALLOWED_CA_SIGALGS in
 * myproposal.h): no SHA-1 `ssh-rsa`. The sk-* ones are listed for completeness; we cannot
 * verify them, so such certificates fail to parse here.
 */
export const ALLOWED_CA_SIGNATURE_ALGORITHMS: ReadonlySet<string> = new Set([
  'ssh-ed25519',
  'ecdsa-sha2-nistp256',
  'ecdsa-sha2-nistp384',
  'ecdsa-sha2-nistp521',
  'sk-ssh-ed25519@openssh.com',
  'sk-ecdsa-sha2-nistp256@openssh.com',
  'rsa-sha2-512',
  'rsa-sha2-256',
]);

/** An OpenSSH certificate (PROTOCOL.certkeys), its CA signature verified when parsed. */
export interface SshCertificate {
  /** The certificate key type, e.g. "ssh-ed25519-cert-v01@openssh.com". */
  readonly certType: string;
  /** The certified key. */
  readonly key: SshPublicKey;
  readonly serial: bigint;
  /** SSH2_CERT_TYPE_USER or SSH2_CERT_TYPE_HOST. */
  readonly type: number;
  readonly keyId: string;
  /** Byte strings as latin1 ("binary") JS strings, so comparisons are byte-exact as in C. */
  readonly principals: readonly string[];
  readonly validAfter: bigint;
  readonly validBefore: bigint;
  readonly criticalOptions: Uint8Array;
  readonly extensions: Uint8Array;
  /** The CA's public-key blob. */
  readonly signatureKey: Uint8Array;
  /** The signature algorithm the CA used (e.g. "rsa-sha2-512"). */
  readonly signatureAlgorithm: string;
}

/** True if `blob` starts with an OpenSSH certificate key type we know. */
export function isCertificateBlob(blob: Uint8Array): boolean {
  try {
    return CERTIFICATE_KEY_TYPES[new Reader(blob).string()] !== undefined;
  } catch {
    return false;
  }
}

/** An SSH `string` as a byte-exact latin1 JS string; refuses an embedded NUL as sshbuf_get_cstring does. */
export function readCString(r: Reader, what: string): string {
  const at = r.offset;
  const b = r.bytes();
  if (b.includes(0)) throw new WireFormatError(`${what} contains a NUL byte`, at);
  return Buffer.from(b).toString('latin1');
}

/**
 * Parses an OpenSSH certificate blob and verifies the CA's signature over it, as OpenSSH's
 * cert_parse does when it reads a key. Throws WireFormatError (malformed, bad signature, CA
 * signature algorithm not allowed) or UnsupportedError (a key type we do not handle).
 */
export function parseCertificate(blob: Uint8Array): SshCertificate {
  const r = new Reader(blob);
  const certType = r.string();
  const plain = CERTIFICATE_KEY_TYPES[certType];
  if (plain === undefined) throw new UnsupportedError(`"${certType}" is not a certificate type we handle`);
  r.bytes(); // nonce
  const key = readPublicKeyFields(plain, r);
  const serial = r.u64();
  const type = r.u32();
  const keyId = readCString(r, 'certificate key id');
  const principalsAt = r.offset;
  const pr = r.sub();
  const principals: string[] = [];
  while (pr.remaining > 0) principals.push(readCString(pr, 'certificate principal'));
  const validAfter = r.u64();
  const validBefore = r.u64();
  const criticalOptions = r.bytes();
  const extensions = r.bytes();
  r.bytes(); // reserved
  const signatureKey = r.bytes();
  const signedLength = r.offset;
  const signature = r.bytes();
  r.end('certificate');
  if (type !== SSH2_CERT_TYPE_USER && type !== SSH2_CERT_TYPE_HOST) {
    throw new WireFormatError(`unknown certificate type ${type}`, principalsAt);
  }
  if (isCertificateBlob(signatureKey)) throw new WireFormatError('certificate signed by a certificate', signedLength);
  // The CA key must itself be a key we can read (sshkey_from_blob of signature_key).
  parsePublicKey(signatureKey);
  const signatureAlgorithm = parseSignature(signature).algorithm;
  if (!ALLOWED_CA_SIGNATURE_ALGORITHMS.has(signatureAlgorithm)) {
    throw new WireFormatError(`certificate signed with disallowed algorithm ${signatureAlgorithm}`, signedLength);
  }
  if (!verifySshSignature(signatureKey, blob.subarray(0, signedLength), signature)) {
    throw new WireFormatError('certificate signature does not verify', signedLength);
  }
  return {
    certType,
    key,
    serial,
    type,
    keyId,
    principals,
    validAfter,
    validBefore,
    criticalOptions,
    extensions,
    signatureKey: Uint8Array.from(signatureKey),
    signatureAlgorithm,
  };
}

/**
 * OpenSSH sshkey_cert_check_host (want_host, no principal required, no wildcards): null when the
 * certificate is a valid host certificate for `hostname` at `nowSeconds`, else the reason.
 */
export function checkHostCertificate(cert: SshCertificate, hostname: string, nowSeconds: bigint): string | null {
  if (cert.type !== SSH2_CERT_TYPE_HOST) return 'Certificate invalid: not a host certificate';
  if (nowSeconds < cert.validAfter) return 'Certificate invalid: not yet valid';
  if (nowSeconds >= cert.validBefore) return 'Certificate invalid: expired';
  if (cert.principals.length > 0 && !cert.principals.includes(hostname)) {
    return 'Certificate invalid: name is not a listed principal';
  }
  if (cert.criticalOptions.length !== 0) return 'Certificate contains unsupported critical options';
  return null;
}
