import { createHash } from 'node:crypto';
import { UnsupportedError, WireFormatError } from '../errors.js';
import { HASHES, PacketTag, SubpacketType } from './constants.js';
import { algorithmId, keyHashInput, keyIdOf, keyPacketBody, type KeyMaterial, type PublicKey } from './key.js';
import { concat, encodeLength, encodeMpi, encodePacket, PacketReader, u32be } from './packet.js';

/** One signature subpacket, RFC 9580 §5.2.3.7. */
export interface Subpacket {
  readonly type: number;
  readonly critical: boolean;
  readonly body: Uint8Array;
}

const sub = (type: number, body: Uint8Array, critical = false): Subpacket => ({ type, critical, body });

/** Subpacket constructors for what we write (each names its RFC 9580 section). */
export const Subpackets = {
  /** §5.2.3.11 */
  creationTime: (t: number): Subpacket => sub(SubpacketType.SIGNATURE_CREATION_TIME, u32be(t)),
  /** §5.2.3.35: version 4 then the fingerprint. */
  issuerFingerprint: (fpr: Uint8Array): Subpacket => sub(SubpacketType.ISSUER_FINGERPRINT, concat([Uint8Array.of(4), fpr])),
  /** §5.2.3.12 */
  issuerKeyId: (fpr: Uint8Array): Subpacket => sub(SubpacketType.ISSUER_KEY_ID, Uint8Array.from(keyIdOf(fpr))),
  /** §5.2.3.29 */
  keyFlags: (flags: number): Subpacket => sub(SubpacketType.KEY_FLAGS, Uint8Array.of(flags)),
  /** §5.2.3.32 */
  features: (flags: number): Subpacket => sub(SubpacketType.FEATURES, Uint8Array.of(flags)),
  /** §5.2.3.14 */
  preferredSymmetric: (ids: readonly number[]): Subpacket => sub(SubpacketType.PREFERRED_SYMMETRIC, Uint8Array.from(ids)),
  /** §5.2.3.16 */
  preferredHash: (ids: readonly number[]): Subpacket => sub(SubpacketType.PREFERRED_HASH, Uint8Array.from(ids)),
  /** §5.2.3.17 */
  preferredCompression: (ids: readonly number[]): Subpacket => sub(SubpacketType.PREFERRED_COMPRESSION, Uint8Array.from(ids)),
  /** §5.2.3.25 */
  keyServerPreferences: (flags: number): Subpacket => sub(SubpacketType.KEY_SERVER_PREFERENCES, Uint8Array.of(flags)),
  /** §5.2.3.28 */
  signersUserId: (uid: string): Subpacket => sub(SubpacketType.SIGNERS_USER_ID, new TextEncoder().encode(uid)),
};

export function encodeSubpackets(list: readonly Subpacket[]): Uint8Array {
  const parts: Uint8Array[] = [];
  for (const s of list) {
    parts.push(encodeLength(s.body.length + 1), Uint8Array.of((s.critical ? 0x80 : 0) | s.type), s.body);
  }
  return concat(parts);
}

export function decodeSubpackets(area: Uint8Array): Subpacket[] {
  const out: Subpacket[] = [];
  const r = new PacketReader(area, 'signature subpacket');
  while (r.remaining > 0) {
    const first = r.u8();
    let len: number;
    if (first < 192) len = first;
    else if (first < 255) len = ((first - 192) << 8) + r.u8() + 192;
    else len = r.u32();
    if (len < 1) throw new WireFormatError('empty signature subpacket', r.offset);
    const body = r.raw(len);
    out.push({ type: body[0]! & 0x7f, critical: (body[0]! & 0x80) !== 0, body: body.subarray(1) });
  }
  return out;
}

/** What a v4 signature says before it is made. */
export interface SignatureTemplate {
  readonly type: number;
  readonly publicKeyAlgorithm: number;
  readonly hashAlgorithm: number;
  readonly hashed: readonly Subpacket[];
  readonly unhashed: readonly Subpacket[];
}

/** The hashed part of a v4 signature: version .. hashed subpackets (RFC 9580 §5.2.3). */
export function hashedPart(t: SignatureTemplate): Uint8Array {
  const area = encodeSubpackets(t.hashed);
  if (area.length > 0xffff) throw new WireFormatError('hashed subpackets over 65535 bytes', 0);
  return concat([Uint8Array.of(4, t.type, t.publicKeyAlgorithm, t.hashAlgorithm, area.length >> 8, area.length & 0xff), area]);
}

/** The v4 trailer, RFC 9580 §5.2.4: the hashed part, then 04 FF and its length (4 bytes). */
export function signatureTrailer(hashed: Uint8Array): Uint8Array {
  return concat([hashed, Uint8Array.of(4, 0xff), u32be(hashed.length)]);
}

/** The digest a v4 signature signs: hash(input || trailer). */
export function signatureDigest(hashAlgorithm: number, input: readonly Uint8Array[], hashed: Uint8Array): Uint8Array {
  const hash = HASHES[hashAlgorithm];
  if (hash === undefined) throw new UnsupportedError(`hash algorithm ${hashAlgorithm} is not supported`);
  const h = createHash(hash.name);
  for (const part of input) h.update(part);
  h.update(signatureTrailer(hashed));
  return Uint8Array.from(h.digest());
}

/**
 * The algorithm-specific signature fields from the raw signature a card returns (RFC 9580
 * §5.2.3): RSA: one MPI m^d mod n; ECDSA: MPIs r and s (the halves of r || s); EdDSALegacy:
 * MPIs R and S (the halves of the 64-byte Ed25519 signature, §5.2.3.3).
 */
export function signatureMpis(m: KeyMaterial, raw: Uint8Array): Uint8Array {
  if (m.algorithm === 'rsa') return encodeMpi(raw);
  if (m.algorithm === 'ecdh') throw new UnsupportedError('ECDH keys cannot sign');
  if (raw.length === 0 || raw.length % 2 !== 0) throw new WireFormatError(`${m.algorithm} signature of ${raw.length} bytes`, 0);
  const half = raw.length / 2;
  return concat([encodeMpi(raw.subarray(0, half)), encodeMpi(raw.subarray(half))]);
}

/** Assembles the signature packet (header included) once the card has signed `digest`. */
export function encodeSignaturePacket(t: SignatureTemplate, digest: Uint8Array, mpis: Uint8Array, hashed: Uint8Array = hashedPart(t)): Uint8Array {
  const unhashed = encodeSubpackets(t.unhashed);
  const body = concat([hashed, Uint8Array.of(unhashed.length >> 8, unhashed.length & 0xff), unhashed, digest.subarray(0, 2), mpis]);
  return encodePacket(PacketTag.SIGNATURE, body);
}

/** A signature waiting for its raw signature: sign `digest`, then `finish(raw)` gives the packet. */
export interface PendingSignature {
  readonly hashAlgorithm: number;
  readonly digest: Uint8Array;
  finish(raw: Uint8Array): Uint8Array;
}

export interface SignerKey {
  readonly key: PublicKey;
  readonly fingerprint: Uint8Array;
}

/** Creation time and issuer (fingerprint hashed, key ID unhashed), as GnuPG 2.2 writes them. */
function baseTemplate(signer: SignerKey, type: number, hashAlgorithm: number, created: number, extra: readonly Subpacket[]): SignatureTemplate {
  return {
    type,
    publicKeyAlgorithm: algorithmId(signer.key.material),
    hashAlgorithm,
    hashed: [Subpackets.issuerFingerprint(signer.fingerprint), Subpackets.creationTime(created), ...extra],
    unhashed: [Subpackets.issuerKeyId(signer.fingerprint)],
  };
}

export function pendingSignature(signer: SignerKey, t: SignatureTemplate, input: readonly Uint8Array[]): PendingSignature {
  const hashed = hashedPart(t);
  const digest = signatureDigest(t.hashAlgorithm, input, hashed);
  return {
    hashAlgorithm: t.hashAlgorithm,
    digest,
    finish: (raw) => encodeSignaturePacket(t, digest, signatureMpis(signer.key.material, raw), hashed),
  };
}

/** A detached signature of binary data (type 0x00, RFC 9580 §5.2.1.1). */
export function documentSignature(
  signer: SignerKey,
  data: Uint8Array,
  opts: { readonly hashAlgorithm: number; readonly created: number; readonly signersUserId?: string | undefined },
): PendingSignature {
  const extra = opts.signersUserId === undefined ? [] : [Subpackets.signersUserId(opts.signersUserId)];
  return pendingSignature(signer, baseTemplate(signer, 0x00, opts.hashAlgorithm, opts.created, extra), [data]);
}

/** The hash input of a user ID in a certification: 0xB4 || length (4) || the UTF-8 bytes (RFC 9580 §5.2.4). */
export function userIdHashInput(userId: Uint8Array): Uint8Array {
  return concat([Uint8Array.of(0xb4), u32be(userId.length), userId]);
}

/** A positive certification of a user ID by its own key (type 0x13), with the given preferences. */
export function userIdSelfSignature(
  signer: SignerKey,
  userId: Uint8Array,
  opts: { readonly hashAlgorithm: number; readonly created: number; readonly subpackets: readonly Subpacket[] },
): PendingSignature {
  const t = baseTemplate(signer, 0x13, opts.hashAlgorithm, opts.created, opts.subpackets);
  return pendingSignature(signer, t, [keyHashInput(keyPacketBody(signer.key)), userIdHashInput(userId)]);
}

/** A subkey binding signature (type 0x18) by the primary key. */
export function subkeyBindingSignature(
  signer: SignerKey,
  subkey: PublicKey,
  opts: { readonly hashAlgorithm: number; readonly created: number; readonly keyFlags: number },
): PendingSignature {
  const t = baseTemplate(signer, 0x18, opts.hashAlgorithm, opts.created, [Subpackets.keyFlags(opts.keyFlags)]);
  return pendingSignature(signer, t, [keyHashInput(keyPacketBody(signer.key)), keyHashInput(keyPacketBody(subkey))]);
}

/** A v4 signature packet, parsed. */
export interface ParsedSignature {
  readonly version: number;
  readonly type: number;
  readonly publicKeyAlgorithm: number;
  readonly hashAlgorithm: number;
  /** The hashed part as it was on the wire (what the trailer covers). */
  readonly hashedPart: Uint8Array;
  readonly hashed: readonly Subpacket[];
  readonly unhashed: readonly Subpacket[];
  readonly left16: Uint8Array;
  /** The algorithm-specific fields: MPI magnitudes. */
  readonly mpis: readonly Uint8Array[];
  /** Signature creation time (hashed subpacket 2), if present. */
  readonly created: number | undefined;
  /** Issuer fingerprint (33) or undefined. */
  readonly issuerFingerprint: Uint8Array | undefined;
  /** Issuer key ID (16, hashed or unhashed) or the fingerprint's low 64 bits. */
  readonly issuerKeyId: Uint8Array | undefined;
}

export function parseSignaturePacketBody(body: Uint8Array): ParsedSignature {
  const r = new PacketReader(body, 'signature packet');
  const version = r.u8();
  if (version !== 4) throw new UnsupportedError(`version ${version} signatures are not supported (only v4)`);
  const type = r.u8();
  const publicKeyAlgorithm = r.u8();
  const hashAlgorithm = r.u8();
  const hashedLen = r.u16();
  const hashedArea = r.raw(hashedLen);
  const hashedPartBytes = body.subarray(0, 6 + hashedLen);
  const unhashedArea = r.raw(r.u16());
  const left16 = r.raw(2);
  const mpiCount = publicKeyAlgorithm === 1 ? 1 : 2;
  const mpis: Uint8Array[] = [];
  for (let i = 0; i < mpiCount; i++) mpis.push(r.mpi());
  const hashed = decodeSubpackets(hashedArea);
  const unhashed = decodeSubpackets(unhashedArea);
  const find = (list: readonly Subpacket[], type: number): Uint8Array | undefined => list.find((s) => s.type === type)?.body;
  const ct = find(hashed, SubpacketType.SIGNATURE_CREATION_TIME);
  const ifp = find(hashed, SubpacketType.ISSUER_FINGERPRINT) ?? find(unhashed, SubpacketType.ISSUER_FINGERPRINT);
  const issuerFingerprint = ifp !== undefined && ifp.length === 21 && ifp[0] === 4 ? ifp.subarray(1) : undefined;
  const kid = find(hashed, SubpacketType.ISSUER_KEY_ID) ?? find(unhashed, SubpacketType.ISSUER_KEY_ID);
  return {
    version,
    type,
    publicKeyAlgorithm,
    hashAlgorithm,
    hashedPart: hashedPartBytes,
    hashed,
    unhashed,
    left16,
    mpis,
    created: ct !== undefined && ct.length === 4 ? ((ct[0]! << 24) | (ct[1]! << 16) | (ct[2]! << 8) | ct[3]!) >>> 0 : undefined,
    issuerFingerprint,
    issuerKeyId: kid?.length === 8 ? kid : issuerFingerprint === undefined ? undefined : keyIdOf(issuerFingerprint),
  };
}
