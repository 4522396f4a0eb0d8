/** Packet tags, RFC 9580 §5. */
export const PacketTag = {
  SIGNATURE: 2,
  PUBLIC_KEY: 6,
  USER_ID: 13,
  PUBLIC_SUBKEY: 14,
  USER_ATTRIBUTE: 17,
} as const;

/** Public-key algorithm ids, RFC 9580 §9.1 (22 is "EdDSALegacy", the form GnuPG and cards use). */
export const PublicKeyAlgorithm = {
  RSA: 1,
  ECDH: 18,
  ECDSA: 19,
  EDDSA_LEGACY: 22,
} as const;

/** Hash algorithm ids, RFC 9580 §9.5. */
export const HashAlgorithm = {
  SHA1: 2,
  SHA256: 8,
  SHA384: 9,
  SHA512: 10,
  SHA224: 11,
} as const;
export type HashAlgorithmId = (typeof HashAlgorithm)[keyof typeof HashAlgorithm];

/** node:crypto names and digest sizes of the hashes we use. */
export const HASHES: Readonly<Record<number, { readonly name: 'sha1' | 'sha224' | 'sha256' | 'sha384' | 'sha512'; readonly bytes: number }>> = {
  [HashAlgorithm.SHA1]: { name: 'sha1', bytes: 20 },
  [HashAlgorithm.SHA224]: { name: 'sha224', bytes: 28 },
  [HashAlgorithm.SHA256]: { name: 'sha256', bytes: 32 },
  [HashAlgorithm.SHA384]: { name: 'sha384', bytes: 48 },
  [HashAlgorithm.SHA512]: { name: 'sha512', bytes: 64 },
};

/** Symmetric algorithm ids, RFC 9580 §9.3 (for preferences and ECDH KDF parameters). */
export const SymmetricAlgorithm = {
  AES128: 7,
  AES192: 8,
  AES256: 9,
  CAMELLIA256: 13,
  TRIPLE_DES: 2,
} as const;

/** Signature types, RFC 9580 §5.2.1. */
export const SignatureType = {
  BINARY: 0x00,
  TEXT: 0x01,
  GENERIC_CERTIFICATION: 0x10,
  POSITIVE_CERTIFICATION: 0x13,
  SUBKEY_BINDING: 0x18,
  PRIMARY_KEY_BINDING: 0x19,
} as const;

/** Signature subpacket types, RFC 9580 §5.2.3.7 onwards. */
export const SubpacketType = {
  SIGNATURE_CREATION_TIME: 2,
  SIGNATURE_EXPIRATION_TIME: 3,
  KEY_EXPIRATION_TIME: 9,
  PREFERRED_SYMMETRIC: 11,
  ISSUER_KEY_ID: 16,
  PREFERRED_HASH: 21,
  PREFERRED_COMPRESSION: 22,
  KEY_SERVER_PREFERENCES: 23,
  PRIMARY_USER_ID: 25,
  KEY_FLAGS: 27,
  SIGNERS_USER_ID: 28,
  FEATURES: 30,
  EMBEDDED_SIGNATURE: 32,
  ISSUER_FINGERPRINT: 33,
} as const;

/** Key flags (first octet), RFC 9580 §5.2.3.29. */
export const KeyFlag = {
  CERTIFY: 0x01,
  SIGN: 0x02,
  ENCRYPT_COMMUNICATIONS: 0x04,
  ENCRYPT_STORAGE: 0x08,
  AUTHENTICATE: 0x20,
} as const;

/** Curves, with their OIDs (DER content, hex), RFC 9580 §9.2 and GnuPG's names. */
export const CURVES = {
  p256: { oid: '2a8648ce3d030107', gnupg: 'nistp256', bits: 256 },
  p384: { oid: '2b81040022', gnupg: 'nistp384', bits: 384 },
  p521: { oid: '2b81040023', gnupg: 'nistp521', bits: 521 },
  ed25519: { oid: '2b06010401da470f01', gnupg: 'ed25519', bits: 255 },
  cv25519: { oid: '2b060104019755010501', gnupg: 'cv25519', bits: 255 },
} as const;
export type Curve = keyof typeof CURVES;

export function curveByOid(oidHex: string): Curve | undefined {
  return (Object.keys(CURVES) as Curve[]).find((c) => CURVES[c].oid === oidHex.toLowerCase());
}
