import { SignFlags } from '../protocol/codes.js';
import { UnsupportedError, WireFormatError } from '../errors.js';
import { Reader } from '../wire/reader.js';
import { Writer } from '../wire/writer.js';
import {
  ECDSA_CURVES,
  isEcdsaKeyType,
  isRsaSignatureAlgorithm,
  SshSignatureAlgorithm,
  type EcdsaKeyType,
  type RsaSignatureAlgorithm,
} from './key-types.js';
import { readUnsignedMpint } from './public-key.js';

/** A parsed SSH signature blob. ECDSA r and s are unsigned magnitudes without leading zeros. */
export type SshSignature =
  /** RFC 8332 §3 (and RFC 4253 §6.6 for ssh-rsa): the raw RSA signature, modulus-sized. */
  | { readonly algorithm: RsaSignatureAlgorithm; readonly signature: Uint8Array }
  /** RFC 5656 §3.1.2: string containing mpint r, mpint s. */
  | { readonly algorithm: EcdsaKeyType; readonly r: Uint8Array; readonly s: Uint8Array }
  /** RFC 8709 §6: 64 bytes R || S. */
  | { readonly algorithm: typeof SshSignatureAlgorithm.ED25519; readonly signature: Uint8Array };

/** Parses `string algorithm, string signature`. WireFormatError / UnsupportedError on bad input. */
export function parseSignature(blob: Uint8Array): SshSignature {
  const r = new Reader(blob);
  const algorithm = r.string();
  const at = r.offset;
  let sig: SshSignature;
  if (isRsaSignatureAlgorithm(algorithm)) {
    const signature = r.bytes();
    if (signature.length === 0) throw new WireFormatError('empty RSA signature', at);
    sig = { algorithm, signature };
  } else if (isEcdsaKeyType(algorithm)) {
    const inner = r.sub();
    const rr = readUnsignedMpint(inner, 'ECDSA r');
    const ss = readUnsignedMpint(inner, 'ECDSA s');
    inner.end('ECDSA signature');
    const size = ECDSA_CURVES[algorithm].fieldBytes;
    if (rr.length > size || ss.length > size) throw new WireFormatError(`ECDSA r/s longer than ${size} bytes`, at);
    sig = { algorithm, r: rr, s: ss };
  } else if (algorithm === SshSignatureAlgorithm.ED25519) {
    const signature = r.bytes();
    if (signature.length !== 64) throw new WireFormatError(`ed25519 signature of ${signature.length} bytes`, at);
    sig = { algorithm, signature };
  } else {
    throw new UnsupportedError(`unsupported SSH signature algorithm "${algorithm}"`);
  }
  r.end('signature blob');
  return sig;
}

/** Encodes an SSH signature blob. */
export function encodeSignature(sig: SshSignature): Uint8Array {
  const w = new Writer();
  w.string(sig.algorithm);
  if ('r' in sig) {
    w.begin().mpintUnsigned(sig.r).mpintUnsigned(sig.s).finish();
  } else {
    w.bytes(sig.signature);
  }
  return w.toBytes();
}

/**
 * The SSH signature blob for an ECDSA signature given as raw r || s, each half the curve's field
 * size: the form an OpenPGP card's INTERNAL AUTHENTICATE returns (OpenPGP card 3.4.1 §7.2.13).
 */
export function ecdsaSignatureFromRaw(keyType: EcdsaKeyType, raw: Uint8Array): Uint8Array {
  const size = ECDSA_CURVES[keyType].fieldBytes;
  if (raw.length !== 2 * size) {
    throw new WireFormatError(`raw ${keyType} signature must be ${2 * size} bytes, got ${raw.length}`, 0);
  }
  return encodeSignature({ algorithm: keyType, r: raw.subarray(0, size), s: raw.subarray(size) });
}

/** Reads one DER length (X.690 §8.1.3: short form, or 0x81/0x82 long form). */
function derLength(der: Uint8Array, at: number): [length: number, next: number] {
  const first = der[at];
  if (first === undefined) throw new WireFormatError('truncated DER length', at);
  if (first < 0x80) return [first, at + 1];
  const n = first & 0x7f;
  if (n === 0 || n > 2) throw new WireFormatError(`unsupported DER length form 0x${first.toString(16)}`, at);
  if (at + 1 + n > der.length) throw new WireFormatError('truncated DER length', at);
  let len = 0;
  for (let i = 0; i < n; i++) len = (len << 8) | der[at + 1 + i]!;
  return [len, at + 1 + n];
}

/** Reads a DER INTEGER that must be positive; returns its magnitude without leading zeros. */
function derPositiveInteger(der: Uint8Array, at: number, end: number, what: string): [Uint8Array, number] {
  if (der[at] !== 0x02) throw new WireFormatError(`${what} is not a DER INTEGER`, at);
  const [len, start] = derLength(der, at + 1);
  if (len === 0 || start + len > end) throw new WireFormatError(`${what} runs past the signature`, at);
  const v = der.subarray(start, start + len);
  if ((v[0]! & 0x80) !== 0) throw new WireFormatError(`${what} is negative`, start);
  let i = 0;
  while (i < v.length && v[i] === 0) i++;
  if (i === v.length) throw new WireFormatError(`${what} is zero`, start);
  return [v.subarray(i), start + len];
}

/**
 * The SSH signature blob for an ECDSA signature in DER (ECDSA-Sig-Value, RFC 3279 §2.2.3: SEQUENCE
 * of INTEGER r, INTEGER s): the form node:crypto's sign() and PKCS#11/PIV tokens give.
 */
export function ecdsaSignatureFromDer(keyType: EcdsaKeyType, der: Uint8Array): Uint8Array {
  if (der[0] !== 0x30) throw new WireFormatError('ECDSA signature is not a DER SEQUENCE', 0);
  const [len, start] = derLength(der, 1);
  const end = start + len;
  if (end !== der.length) throw new WireFormatError(`DER SEQUENCE of ${len} bytes in ${der.length - start}`, 1);
  const [r, afterR] = derPositiveInteger(der, start, end, 'ECDSA r');
  const [s, afterS] = derPositiveInteger(der, afterR, end, 'ECDSA s');
  if (afterS !== end) throw new WireFormatError('trailing bytes inside the DER SEQUENCE', afterS);
  const size = ECDSA_CURVES[keyType].fieldBytes;
  if (r.length > size || s.length > size) throw new WireFormatError(`ECDSA r/s longer than ${size} bytes`, start);
  return encodeSignature({ algorithm: keyType, r, s });
}

/**
 * The RSA signature algorithm a SIGN_REQUEST's flags ask for (draft-miller-ssh-agent §5.3):
 * SHA-512 wins if both bits are set, as in OpenSSH; no bit means legacy ssh-rsa (SHA-1).
 */
export function rsaAlgorithmForFlags(flags: number): RsaSignatureAlgorithm {
  if ((flags & SignFlags.SSH_AGENT_RSA_SHA2_512) !== 0) return SshSignatureAlgorithm.RSA_SHA2_512;
  if ((flags & SignFlags.SSH_AGENT_RSA_SHA2_256) !== 0) return SshSignatureAlgorithm.RSA_SHA2_256;
  return SshSignatureAlgorithm.SSH_RSA;
}

/** The signature algorithm names valid for a key type. */
export function algorithmsForKeyType(keyType: string): readonly string[] {
  if (keyType === 'ssh-rsa') return ['rsa-sha2-512', 'rsa-sha2-256', 'ssh-rsa'];
  if (isEcdsaKeyType(keyType) || keyType === 'ssh-ed25519') return [keyType];
  throw new UnsupportedError(`unsupported SSH key type "${keyType}"`);
}
