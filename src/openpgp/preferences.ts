import { HashAlgorithm, SymmetricAlgorithm } from './constants.js';

/**
 * The preferences GnuPG 2.2 writes into a new key's self-signature (gpg --list-packets on a
 * key made by `gpg --quick-gen-key`: pref-sym-algos 9 8 7 2, pref-hash-algos 10 9 8 11 2,
 * pref-zip-algos 2 3 1, features 01, keyserver preferences 80).
 */
export const SymmetricPrefs = [SymmetricAlgorithm.AES256, SymmetricAlgorithm.AES192, SymmetricAlgorithm.AES128, SymmetricAlgorithm.TRIPLE_DES] as const;
export const HashPrefs = [HashAlgorithm.SHA512, HashAlgorithm.SHA384, HashAlgorithm.SHA256, HashAlgorithm.SHA224, HashAlgorithm.SHA1] as const;
/** ZLIB, BZip2, ZIP. */
export const CompressionPrefs = [2, 3, 1] as const;
/** Modification detection (SEIPD v1), RFC 9580 §5.2.3.32. */
export const GNUPG_FEATURES = 0x01;
/** No-modify, RFC 9580 §5.2.3.25. */
export const GNUPG_KEYSERVER_PREFS = 0x80;
