/** The digests an RSA PKCS #1 v1.5 signature may wrap (and the card layer and OpenPGP use). */
export type DigestName = 'sha1' | 'sha224' | 'sha256' | 'sha384' | 'sha512';

/** Each digest's length in bytes. */
export const DIGEST_BYTES: Readonly<Record<DigestName, number>> = { sha1: 20, sha224: 28, sha256: 32, sha384: 48, sha512: 64 };

const hex = (s: string): Uint8Array => Uint8Array.from(Buffer.from(s, 'hex'));

/**
 * DER prefixes of DigestInfo (RFC 8017 §9.2, note 1): what an RSA v1.5 signature wraps the
 * digest in. The cards sign DigestInfo for INTERNAL AUTHENTICATE (3.4.1 §7.2.13) and PSO:CDS
 * (§7.2.10.1). Shared arrays: read them, never write.
 */
export const DIGEST_INFO_PREFIX: Readonly<Record<DigestName, Uint8Array>> = {
  sha1: hex('3021300906052b0e03021a05000414'),
  sha224: hex('302d300d06096086480165030402040500041c'),
  sha256: hex('3031300d060960864801650304020105000420'),
  sha384: hex('3041300d060960864801650304020205000430'),
  sha512: hex('3051300d060960864801650304020305000440'),
};
