import { createHash } from 'node:crypto';
import { UnsupportedError, WireFormatError } from '../errors.js';
import { CURVES, curveByOid, HashAlgorithm, PublicKeyAlgorithm, SymmetricAlgorithm, type Curve } from './constants.js';
import { concat, encodeMpi, fromHex, PacketReader, u32be } from './packet.js';
import { equalBytes } from '../wire/bytes.js';

/** ECDH key derivation parameters (RFC 9580 §11.5): the KDF hash and the key-wrap cipher. */
export interface EcdhKdf {
  readonly hash: number;
  readonly cipher: number;
}

/**
 * The public key material of a v4 key, in the forms cards hand out: RSA modulus and exponent;
 * NIST points uncompressed (04 || X || Y); Ed25519 and X25519 keys as their 32 native bytes
 * (the OpenPGP 0x40 prefix is added when the packet is written).
 */
export type KeyMaterial =
  | { readonly algorithm: 'rsa'; readonly n: Uint8Array; readonly e: Uint8Array }
  | { readonly algorithm: 'ecdsa'; readonly curve: 'p256' | 'p384' | 'p521'; readonly point: Uint8Array }
  | { readonly algorithm: 'eddsa'; readonly curve: 'ed25519'; readonly point: Uint8Array }
  | { readonly algorithm: 'ecdh'; readonly curve: 'p256' | 'p384' | 'p521' | 'cv25519'; readonly point: Uint8Array; readonly kdf: EcdhKdf };

/** A v4 public key: creation time (seconds since 1970, UTC) and material. */
export interface PublicKey {
  readonly created: number;
  readonly material: KeyMaterial;
}

export function algorithmId(m: KeyMaterial): number {
  switch (m.algorithm) {
    case 'rsa':
      return PublicKeyAlgorithm.RSA;
    case 'ecdsa':
      return PublicKeyAlgorithm.ECDSA;
    case 'eddsa':
      return PublicKeyAlgorithm.EDDSA_LEGACY;
    case 'ecdh':
      return PublicKeyAlgorithm.ECDH;
  }
}

/** The point as its MPI carries it: native 25519 keys get the 0x40 prefix (RFC 9580 §11.2.2). */
function pointMpiContent(curve: Curve, point: Uint8Array): Uint8Array {
  if (curve === 'ed25519' || curve === 'cv25519') {
    if (point.length !== 32) throw new WireFormatError(`${curve} key of ${point.length} bytes`, 0);
    return concat([Uint8Array.of(0x40), point]);
  }
  return point;
}

/** The body of a v4 public-key (or subkey) packet, RFC 9580 §5.5.2.2. */
export function keyPacketBody(key: PublicKey): Uint8Array {
  const m = key.material;
  const head = concat([Uint8Array.of(4), u32be(key.created), Uint8Array.of(algorithmId(m))]);
  if (m.algorithm === 'rsa') return concat([head, encodeMpi(m.n), encodeMpi(m.e)]);
  const oid = fromHex(CURVES[m.curve].oid);
  const parts = [head, Uint8Array.of(oid.length), oid, encodeMpi(pointMpiContent(m.curve, m.point))];
  if (m.algorithm === 'ecdh') parts.push(Uint8Array.of(3, 1, m.kdf.hash, m.kdf.cipher));
  return concat(parts);
}

/** What a key is hashed as, for fingerprints and key signatures: 0x99 || length (2) || body (RFC 9580 §5.2.4). */
export function keyHashInput(body: Uint8Array): Uint8Array {
  return concat([Uint8Array.of(0x99, (body.length >> 8) & 0xff, body.length & 0xff), body]);
}

/** v4 fingerprint, RFC 9580 §5.5.4.2: SHA-1 over the key's hash input. */
export function fingerprintOfBody(body: Uint8Array): Uint8Array {
  return Uint8Array.from(createHash('sha1').update(keyHashInput(body)).digest());
}

export function fingerprint(key: PublicKey): Uint8Array {
  return fingerprintOfBody(keyPacketBody(key));
}

/** The v4 key ID: the low 64 bits of the fingerprint. */
export function keyIdOf(fpr: Uint8Array): Uint8Array {
  return fpr.subarray(fpr.length - 8);
}

/**
 * The KDF parameters GnuPG writes for an ECDH key it generates (g10/ecdh.c kek_params_table):
 * SHA-256/AES-128 up to 256-bit curves, SHA-384/AES-192 for P-384, SHA-512/AES-256 for P-521.
 */
export function gnupgEcdhKdf(curve: 'p256' | 'p384' | 'p521' | 'cv25519'): EcdhKdf {
  if (curve === 'p384') return { hash: HashAlgorithm.SHA384, cipher: SymmetricAlgorithm.AES192 };
  if (curve === 'p521') return { hash: HashAlgorithm.SHA512, cipher: SymmetricAlgorithm.AES256 };
  return { hash: HashAlgorithm.SHA256, cipher: SymmetricAlgorithm.AES128 };
}

/**
 * The KDF parameters a card's decryption key may have been fingerprinted with: the card stores
 * only the fingerprint, so the host that wrote it chose. GnuPG's per-curve choice first, then
 * the other common ones (SHA-256/AES-128 for every curve is what some tools write).
 */
export function ecdhKdfCandidates(curve: 'p256' | 'p384' | 'p521' | 'cv25519'): EcdhKdf[] {
  const all = [
    gnupgEcdhKdf(curve),
    { hash: HashAlgorithm.SHA256, cipher: SymmetricAlgorithm.AES128 },
    { hash: HashAlgorithm.SHA384, cipher: SymmetricAlgorithm.AES192 },
    { hash: HashAlgorithm.SHA512, cipher: SymmetricAlgorithm.AES256 },
    { hash: HashAlgorithm.SHA256, cipher: SymmetricAlgorithm.AES256 },
  ];
  return all.filter((k, i) => all.findIndex((o) => o.hash === k.hash && o.cipher === k.cipher) === i);
}

/** A key packet as read from a certificate: its body and fingerprint always, its material when we know the algorithm. */
export interface ParsedKey {
  readonly body: Uint8Array;
  readonly fingerprint: Uint8Array;
  readonly version: number;
  readonly created: number;
  readonly algorithm: number;
  readonly material: KeyMaterial | undefined;
}

/** Parses a public-key or public-subkey packet body. v4 only; others are refused with UnsupportedError. */
export function parseKeyPacketBody(body: Uint8Array): ParsedKey {
  const r = new PacketReader(body, 'public key packet');
  const version = r.u8();
  if (version !== 4) throw new UnsupportedError(`version ${version} keys are not supported (only v4)`);
  const created = r.u32();
  const algorithm = r.u8();
  return { body, fingerprint: fingerprintOfBody(body), version, created, algorithm, material: readMaterial(r, algorithm) };
}

function readMaterial(r: PacketReader, algorithm: number): KeyMaterial | undefined {
  if (algorithm === PublicKeyAlgorithm.RSA) {
    const n = r.mpi();
    const e = r.mpi();
    return { algorithm: 'rsa', n: Uint8Array.from(n), e: Uint8Array.from(e) };
  }
  if (algorithm !== PublicKeyAlgorithm.ECDSA && algorithm !== PublicKeyAlgorithm.ECDH && algorithm !== PublicKeyAlgorithm.EDDSA_LEGACY) return undefined;
  const oidLen = r.u8();
  const curve = curveByOid(Buffer.from(r.raw(oidLen)).toString('hex'));
  let point = Uint8Array.from(r.mpi());
  if (curve === undefined) return undefined;
  if (curve === 'ed25519' || curve === 'cv25519') {
    if (point.length !== 33 || point[0] !== 0x40) return undefined;
    point = point.subarray(1);
  }
  if (algorithm === PublicKeyAlgorithm.EDDSA_LEGACY) return curve === 'ed25519' ? { algorithm: 'eddsa', curve, point } : undefined;
  if (algorithm === PublicKeyAlgorithm.ECDSA) return curve === 'p256' || curve === 'p384' || curve === 'p521' ? { algorithm: 'ecdsa', curve, point } : undefined;
  const kdfLen = r.u8();
  const kdf = r.raw(kdfLen);
  if (kdfLen !== 3 || kdf[0] !== 1 || curve === 'ed25519') return undefined;
  return { algorithm: 'ecdh', curve, point, kdf: { hash: kdf[1]!, cipher: kdf[2]! } };
}

/** Bits of the key, as GnuPG shows them ("rsa2048", "nistp256", "ed25519"). */
export function describeKey(m: KeyMaterial): string {
  if (m.algorithm === 'rsa') {
    let i = 0;
    while (i < m.n.length && m.n[i] === 0) i++;
    const bits = (m.n.length - i - 1) * 8 + (32 - Math.clz32(m.n[i] ?? 0));
    return `rsa${bits}`;
  }
  return CURVES[m.curve].gnupg;
}

/**
 * A key as cards and the agent extension describe it: the OpenPGP algorithm id (1 RSA, 18 ECDH,
 * 19 ECDSA, 22 EdDSALegacy) with RSA n and e, or the curve OID (DER content) and the point
 * (04 || X || Y, or the 32 native bytes of an Ed25519/X25519 key).
 */
export type KeyParts =
  | { readonly algorithm: number; readonly n: Uint8Array; readonly e: Uint8Array }
  | { readonly algorithm: number; readonly oid: Uint8Array; readonly point: Uint8Array };

export interface KeyFromParts {
  readonly key: PublicKey;
  readonly fingerprint: Uint8Array;
  /** Whether the fingerprint equals the one the card stores (false when none was given). */
  readonly matchesCard: boolean;
}

/**
 * The v4 key for card key parts and a generation time. The card stores a fingerprint but not
 * the ECDH KDF parameters that went into it, so for ECDH every usual choice is tried against
 * `cardFingerprint`; without a match, GnuPG's choice is taken and matchesCard is false.
 */
export function keyFromParts(parts: KeyParts, created: number, cardFingerprint?: Uint8Array): KeyFromParts {
  const candidates = materialCandidates(parts);
  for (const material of candidates) {
    const key = { created, material };
    const fpr = fingerprint(key);
    if (cardFingerprint !== undefined && equalBytes(fpr, cardFingerprint)) return { key, fingerprint: fpr, matchesCard: true };
  }
  const key = { created, material: candidates[0]! };
  return { key, fingerprint: fingerprint(key), matchesCard: false };
}

function materialCandidates(parts: KeyParts): KeyMaterial[] {
  if ('n' in parts) {
    if (parts.algorithm !== PublicKeyAlgorithm.RSA) throw new UnsupportedError(`algorithm ${parts.algorithm} with RSA parameters`);
    return [{ algorithm: 'rsa', n: parts.n, e: parts.e }];
  }
  const curve = curveByOid(Buffer.from(parts.oid).toString('hex'));
  const oidName = Buffer.from(parts.oid).toString('hex');
  if (curve === undefined) throw new UnsupportedError(`curve OID ${oidName} is not supported`);
  const nist = curve === 'p256' || curve === 'p384' || curve === 'p521';
  if (parts.algorithm === PublicKeyAlgorithm.ECDSA && nist) return [{ algorithm: 'ecdsa', curve, point: parts.point }];
  if (parts.algorithm === PublicKeyAlgorithm.EDDSA_LEGACY && curve === 'ed25519') return [{ algorithm: 'eddsa', curve, point: parts.point }];
  if (parts.algorithm === PublicKeyAlgorithm.ECDH && (nist || curve === 'cv25519')) {
    return ecdhKdfCandidates(curve).map((kdf) => ({ algorithm: 'ecdh', curve, point: parts.point, kdf }));
  }
  throw new UnsupportedError(`algorithm ${parts.algorithm} on curve ${curve} is not supported`);
}
