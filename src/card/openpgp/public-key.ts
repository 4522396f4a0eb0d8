import { UnsupportedError, WireFormatError } from '../../errors.js';
import { findTlv, parseTlv } from '../iso7816/tlv.js';

/** A card key in neutral form: nothing here knows SSH. */
export type CardPublicKey =
  | { readonly kind: 'rsa'; readonly n: Uint8Array; readonly e: Uint8Array }
  | { readonly kind: 'ecdsa'; readonly curve: 'p256' | 'p384' | 'p521'; readonly point: Uint8Array }
  | { readonly kind: 'eddsa'; readonly curve: 'ed25519'; readonly point: Uint8Array };

/** A key of an algorithm this driver does not read (brainpool, secp256k1, X25519, Ed448, unknown). */
export interface UnsupportedCardKey {
  readonly kind: 'unsupported';
  readonly reason: string;
  readonly attributes: AlgorithmAttributes;
}

/** What reading a key slot can give: a usable public key, or the reason it is not usable. */
export type CardKey = CardPublicKey | UnsupportedCardKey;

/** Uncompressed SEC1 point sizes (04 || X || Y). */
const EC_POINT_BYTES = { p256: 65, p384: 97, p521: 133 } as const;

export type EcCurve = 'p256' | 'p384' | 'p521' | 'ed25519' | 'x25519' | 'brainpoolP256r1' | 'brainpoolP384r1' | 'brainpoolP512r1' | 'secp256k1' | 'ed448' | 'x448';

/** Curve OIDs (DER content, hex) as algorithm attributes carry them (3.4.1 §4.4.3.10). */
export const CURVE_OIDS: Record<string, EcCurve> = {
  '2a8648ce3d030107': 'p256',
  '2b81040022': 'p384',
  '2b81040023': 'p521',
  '2b06010401da470f01': 'ed25519',
  '2b060104019755010501': 'x25519',
  '2b2403030208010107': 'brainpoolP256r1',
  '2b240303020801010b': 'brainpoolP384r1',
  '2b240303020801010d': 'brainpoolP512r1',
  '2b8104000a': 'secp256k1',
  '2b6571': 'ed448',
  '2b656f': 'x448',
};

/** Algorithm attributes (C1–C3), parsed. */
export type AlgorithmAttributes =
  | { readonly algorithm: 'rsa'; readonly bits: number; readonly exponentBits: number; readonly importFormat: number }
  | { readonly algorithm: 'ecdsa' | 'ecdh' | 'eddsa'; readonly curve: EcCurve | undefined; readonly oid: string }
  | { readonly algorithm: 'unknown'; readonly raw: Uint8Array };

/**
 * Algorithm attributes C1–C3 (3.4.1 §4.4.3.10): RSA = 01 | modulus bits (2) | exponent bits (2) |
 * import format; ECDH 12 / ECDSA 13 / EdDSA 16 = id | curve OID [| FF]. Never throws.
 */
export function parseAlgorithmAttributes(b: Uint8Array): AlgorithmAttributes {
  const id = b[0];
  if (id === 0x01 && b.length >= 5) {
    return { algorithm: 'rsa', bits: (b[1]! << 8) | b[2]!, exponentBits: (b[3]! << 8) | b[4]!, importFormat: b[5] ?? 0 };
  }
  if (id === 0x12 || id === 0x13 || id === 0x16) {
    let oid = Buffer.from(b.subarray(1)).toString('hex');
    // A trailing FF marks "public key included" on import; some cards append it here.
    if (CURVE_OIDS[oid] === undefined && oid.endsWith('ff')) oid = oid.slice(0, -2);
    return { algorithm: id === 0x12 ? 'ecdh' : id === 0x13 ? 'ecdsa' : 'eddsa', curve: CURVE_OIDS[oid], oid };
  }
  return { algorithm: 'unknown', raw: Uint8Array.from(b) };
}

/** Human-readable name: "RSA 2048", "ECDSA p256", "EdDSA ed25519". */
export function describeAlgorithm(a: AlgorithmAttributes): string {
  if (a.algorithm === 'rsa') return `RSA ${a.bits}`;
  if (a.algorithm === 'unknown') return `unknown (${Buffer.from(a.raw).toString('hex')})`;
  return `${a.algorithm === 'eddsa' ? 'EdDSA' : a.algorithm.toUpperCase()} ${a.curve ?? `OID ${a.oid}`}`;
}

/**
 * Why this driver does not read a key with these attributes, or undefined when it does: RSA, ECDSA
 * on P-256/384/521 and EdDSA on Ed25519 are read; other curves are recognised by name only.
 * (Whether SSH can use a key that is read — RSA 1024, say — is the agent's decision.)
 */
export function unreadableKeyReason(a: AlgorithmAttributes): string | undefined {
  if (a.algorithm === 'rsa') return undefined;
  if (a.algorithm === 'ecdsa' && (a.curve === 'p256' || a.curve === 'p384' || a.curve === 'p521')) return undefined;
  if (a.algorithm === 'eddsa' && a.curve === 'ed25519') return undefined;
  return `${describeAlgorithm(a)} keys are not supported (only RSA, ECDSA P-256/384/521 and Ed25519 are)`;
}

/**
 * The public key template 7F49 from GENERATE ASYMMETRIC KEY PAIR (3.4.1 §7.2.14): 81 modulus and
 * 82 exponent for RSA, 86 the point for ECC. Which one it is comes from the algorithm attributes.
 */
export function parsePublicKeyTemplate(resp: Uint8Array, attrs: AlgorithmAttributes): CardPublicKey {
  const field = publicKeyFields(resp);
  if (attrs.algorithm === 'rsa') {
    const { n, e } = rsaFields(field);
    return { kind: 'rsa', n, e };
  }
  const point = field(0x86);
  if (point === undefined) throw new WireFormatError('EC public key without point (86)', 0);
  const reason = unreadableKeyReason(attrs);
  if (reason !== undefined) throw new UnsupportedError(reason);
  if (attrs.algorithm === 'eddsa') {
    // Some cards prefix the native 32-byte key with 40 (the OpenPGP "native point" marker); strip it.
    const p = point.length === 33 && point[0] === 0x40 ? point.subarray(1) : point;
    if (p.length !== 32) throw new WireFormatError(`Ed25519 public key of ${p.length} bytes`, 0);
    return { kind: 'eddsa', curve: 'ed25519', point: Uint8Array.from(p) };
  }
  const curve = (attrs as { curve: 'p256' | 'p384' | 'p521' }).curve;
  if (point.length !== EC_POINT_BYTES[curve] || point[0] !== 0x04) {
    throw new WireFormatError(`${curve} public key is not an uncompressed point of ${EC_POINT_BYTES[curve]} bytes (got ${point.length})`, 0);
  }
  return { kind: 'ecdsa', curve, point: Uint8Array.from(point) };
}

/**
 * The fields of a public key template 7F49 (3.4.1 §7.2.14), by tag: 81 modulus, 82 exponent, 86
 * point. Some cards omit the 7F49 wrapper and send its content alone. The TLV parser is lenient
 * and yields what is there, but key material cut short must not pass as a shorter key: a cut-off
 * field throws.
 */
export function publicKeyFields(template: Uint8Array): (tag: number) => Uint8Array | undefined {
  const objects = parseTlv(template);
  const inner = findTlv(objects, 0x7f49)?.children ?? objects;
  return (tag) => {
    const o = findTlv(inner, tag);
    if (o?.truncated === true) throw new WireFormatError(`public key field ${tag.toString(16)} is cut off`, o.offset);
    return o?.value;
  };
}

/** An RSA key's modulus and exponent from publicKeyFields, without leading zero bytes. */
export function rsaFields(field: (tag: number) => Uint8Array | undefined): { n: Uint8Array; e: Uint8Array } {
  const n = field(0x81);
  const e = field(0x82);
  if (n === undefined || e === undefined) throw new WireFormatError('RSA public key without modulus or exponent', 0);
  return { n: stripZeros(n), e: stripZeros(e) };
}

/** As parsePublicKeyTemplate, but a key of an algorithm this driver does not read comes back as { kind: 'unsupported' }. */
export function cardKeyFrom(resp: Uint8Array, attrs: AlgorithmAttributes): CardKey {
  const reason = unreadableKeyReason(attrs);
  if (reason !== undefined) return { kind: 'unsupported', reason, attributes: attrs };
  return parsePublicKeyTemplate(resp, attrs);
}

function stripZeros(b: Uint8Array): Uint8Array {
  let i = 0;
  while (i < b.length - 1 && b[i] === 0) i++;
  return Uint8Array.from(b.subarray(i));
}
