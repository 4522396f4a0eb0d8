/** SSH public-key algorithm names: RFC 4253 §6.6, RFC 5656 §6.2, RFC 8709 §4. */
export const SshKeyType = {
  RSA: 'ssh-rsa',
  ECDSA_P256: 'ecdsa-sha2-nistp256',
  ECDSA_P384: 'ecdsa-sha2-nistp384',
  ECDSA_P521: 'ecdsa-sha2-nistp521',
  ED25519: 'ssh-ed25519',
} as const;
export type SshKeyTypeName = (typeof SshKeyType)[keyof typeof SshKeyType];

/** SSH signature algorithm names: RFC 4253 §6.6, RFC 8332 §3, RFC 5656 §3.1.2, RFC 8709 §6. */
export const SshSignatureAlgorithm = {
  SSH_RSA: 'ssh-rsa',
  RSA_SHA2_256: 'rsa-sha2-256',
  RSA_SHA2_512: 'rsa-sha2-512',
  ECDSA_P256: 'ecdsa-sha2-nistp256',
  ECDSA_P384: 'ecdsa-sha2-nistp384',
  ECDSA_P521: 'ecdsa-sha2-nistp521',
  ED25519: 'ssh-ed25519',
} as const;
export type SshSignatureAlgorithmName = (typeof SshSignatureAlgorithm)[keyof typeof SshSignatureAlgorithm];

export type EcdsaKeyType = typeof SshKeyType.ECDSA_P256 | typeof SshKeyType.ECDSA_P384 | typeof SshKeyType.ECDSA_P521;
export type RsaSignatureAlgorithm =
  | typeof SshSignatureAlgorithm.SSH_RSA
  | typeof SshSignatureAlgorithm.RSA_SHA2_256
  | typeof SshSignatureAlgorithm.RSA_SHA2_512;

/** Per-curve facts for ECDSA keys (RFC 5656 §6.2.1 for the hash choice). */
export interface EcdsaCurve {
  /** The curve identifier inside the blob. */
  readonly sshName: 'nistp256' | 'nistp384' | 'nistp521';
  /** JWK / node:crypto name. */
  readonly jwkCurve: 'P-256' | 'P-384' | 'P-521';
  /** Bytes in one field element (r and s halves of a raw signature, X and Y of a point). */
  readonly fieldBytes: number;
  readonly hash: 'sha256' | 'sha384' | 'sha512';
}

export const ECDSA_CURVES: Readonly<Record<EcdsaKeyType, EcdsaCurve>> = {
  'ecdsa-sha2-nistp256': { sshName: 'nistp256', jwkCurve: 'P-256', fieldBytes: 32, hash: 'sha256' },
  'ecdsa-sha2-nistp384': { sshName: 'nistp384', jwkCurve: 'P-384', fieldBytes: 48, hash: 'sha384' },
  'ecdsa-sha2-nistp521': { sshName: 'nistp521', jwkCurve: 'P-521', fieldBytes: 66, hash: 'sha512' },
};

export function isEcdsaKeyType(t: string): t is EcdsaKeyType {
  return Object.hasOwn(ECDSA_CURVES, t);
}

/** Hash used by each RSA signature algorithm. */
export const RSA_HASH: Readonly<Record<RsaSignatureAlgorithm, 'sha1' | 'sha256' | 'sha512'>> = {
  'ssh-rsa': 'sha1',
  'rsa-sha2-256': 'sha256',
  'rsa-sha2-512': 'sha512',
};

export function isRsaSignatureAlgorithm(t: string): t is RsaSignatureAlgorithm {
  return Object.hasOwn(RSA_HASH, t);
}
