import { ReferencedDataNotFoundError, UnsupportedError, WireFormatError } from '../../errors.js';
import { concatBytes } from '../../wire/bytes.js';
import { DIGEST_BYTES, DIGEST_INFO_PREFIX, type DigestName } from '../../wire/digest-info.js';
import type { Iso7816Channel } from '../iso7816/channel.js';
import { findTlv, parseTlv } from '../iso7816/tlv.js';
import { parseApplicationData, parsePwStatus, type ApplicationData } from './application-data.js';
import { computeDigitalSignature, CRT, DO, getData, readPublicKey } from './commands.js';
import { publicKeyFields, rsaFields, type AlgorithmAttributes } from './public-key.js';

/**
 * The card's OpenPGP keys for signing and for certificates: the signature key (CRT B6) signs
 * with PSO: COMPUTE DIGITAL SIGNATURE (OpenPGP card 3.4.1 §7.2.10, access PW1 81). Nothing here
 * knows SSH, PINs or OpenPGP packets; the host's fingerprint code lives in src/openpgp.
 */

export type KeySlot = 'sig' | 'dec' | 'aut';

const SLOT_CRT: Record<KeySlot, number> = { sig: CRT.SIGNATURE, dec: CRT.DECRYPTION, aut: CRT.AUTHENTICATION };

/** More data objects (3.4.1 §4.4.1): security support template 7A holds the signature counter 93; CD the generation times. */
export const SIG_DO = {
  SECURITY_SUPPORT_TEMPLATE: 0x7a,
  DIGITAL_SIGNATURE_COUNTER: 0x93,
  GENERATION_TIMES: 0xcd,
  FINGERPRINTS: 0xc5,
} as const;

/**
 * A card key's public part, in the algorithm ids the card uses for its attributes, which are
 * OpenPGP's (3.4.1 §4.4.3.10: 01 RSA, 12 ECDH, 13 ECDSA, 16 EdDSA). EC points as the card sends
 * them: 04 || X || Y for NIST curves, the 32 native bytes for Ed25519 and X25519.
 */
export type CardKeyParts =
  | { readonly algorithm: 0x01; readonly n: Uint8Array; readonly e: Uint8Array }
  | { readonly algorithm: 0x12 | 0x13 | 0x16; readonly oid: Uint8Array; readonly point: Uint8Array };

export interface CardSlotKey {
  readonly slot: KeySlot;
  readonly attributes: AlgorithmAttributes;
  readonly parts: CardKeyParts;
  /** The v4 fingerprint the card stores (C7–C9, in 6E/C5); all zero when no host wrote one. */
  readonly fingerprint: Uint8Array;
  /** Key generation time (CE–D0, in 6E/CD), seconds since 1970; 0 when none was written. */
  readonly created: number;
}

export interface CardOpenPgpKeys {
  readonly sig?: CardSlotKey;
  readonly dec?: CardSlotKey;
  readonly aut?: CardSlotKey;
  /** C4 byte 1 is 00: PW1 (81) is good for one PSO:CDS only, so VERIFY comes before every signature. */
  readonly pw1ValidForOneSignature: boolean;
}

/**
 * Reads what a certificate needs: the application related data 6E (attributes C1–C3,
 * fingerprints C5, generation times CD, PW status C4), then the public key of each slot that has
 * one (GENERATE ASYMMETRIC KEY PAIR in read mode, 3.4.1 §7.2.14). A caller that has read 6E in
 * the same look at the card hands it in as `applicationData`, and GET DATA 6E is not sent again.
 * A slot without a key, or with an attribute we cannot turn into an OpenPGP key, is left out.
 * Access: always.
 */
export async function readCardKeys(
  channel: Iso7816Channel,
  options: { readonly slots?: readonly KeySlot[]; readonly applicationData?: ApplicationData } = {},
): Promise<CardOpenPgpKeys> {
  const app = options.applicationData ?? parseApplicationData(await getData(channel, DO.APPLICATION_RELATED_DATA));
  const out: { -readonly [K in KeySlot]?: CardSlotKey } = {};
  for (const slot of options.slots ?? ['sig', 'dec', 'aut']) {
    const attributes = app.algorithms[slot];
    if (attributes === undefined || attributes.algorithm === 'unknown') continue;
    const fingerprint = app.fingerprints?.[slot] ?? new Uint8Array(20);
    const created = app.generationTimes[slot];
    let template: Uint8Array;
    try {
      template = await readPublicKey(channel, SLOT_CRT[slot]);
    } catch (err) {
      // 6A88: no key in this slot. Other errors are real.
      if (err instanceof ReferencedDataNotFoundError) continue;
      throw err;
    }
    const parts = keyPartsFrom(template, attributes);
    if (parts === undefined) continue;
    out[slot] = { slot, attributes, parts, fingerprint, created };
  }
  return { ...out, pw1ValidForOneSignature: app.pwStatus !== undefined && !app.pwStatus.pw1ValidForMultipleSignatures };
}

/** The signature key alone (one GET DATA 6E, one key read). */
export async function readSignatureKey(channel: Iso7816Channel): Promise<CardSlotKey | undefined> {
  return (await readCardKeys(channel, { slots: ['sig'] })).sig;
}

/** The public key template 7F49 (3.4.1 §7.2.14) as key parts; undefined for attributes OpenPGP packets here do not cover. */
export function keyPartsFrom(template: Uint8Array, attributes: AlgorithmAttributes): CardKeyParts | undefined {
  const field = publicKeyFields(template);
  if (attributes.algorithm === 'rsa') return { algorithm: 0x01, ...rsaFields(field) };
  if (attributes.algorithm === 'unknown') return undefined;
  let point = field(0x86);
  if (point === undefined) throw new WireFormatError('EC public key without point (86)', 0);
  const native = attributes.curve === 'ed25519' || attributes.curve === 'x25519';
  // Some cards prefix the native key with 40, OpenPGP's marker; the parts carry it bare.
  if (native && point.length === 33 && point[0] === 0x40) point = point.subarray(1);
  if (native && point.length !== 32) throw new WireFormatError(`${attributes.curve} public key of ${point.length} bytes`, 0);
  const id = attributes.algorithm === 'ecdh' ? 0x12 : attributes.algorithm === 'ecdsa' ? 0x13 : 0x16;
  return { algorithm: id, oid: Uint8Array.from(Buffer.from(attributes.oid, 'hex')), point: Uint8Array.from(point) };
}

/** GET DATA 7A (3.4.1 §4.4.1), access always: the digital signature counter (93, three bytes). */
export async function readSignatureCounter(channel: Iso7816Channel): Promise<number> {
  const v = await getData(channel, SIG_DO.SECURITY_SUPPORT_TEMPLATE);
  const c = findTlv(parseTlv(v), SIG_DO.DIGITAL_SIGNATURE_COUNTER)?.value;
  if (c === undefined) throw new WireFormatError('security support template (7A) has no signature counter (93)', 0);
  return c.reduce((n, b) => n * 256 + b, 0);
}

/** GET DATA C4, access always: whether PW1 (81) covers one PSO:CDS only (first byte 00). */
export async function pw1ValidForOneSignature(channel: Iso7816Channel): Promise<boolean> {
  return !parsePwStatus(await getData(channel, DO.PW_STATUS_BYTES)).pw1ValidForMultipleSignatures;
}

export type CdsHash = DigestName;

const EC_FIELD_BYTES: Record<string, number> = { p256: 32, p384: 48, p521: 66 };

/**
 * What PSO:CDS signs (3.4.1 §7.2.10): RSA the DigestInfo of the digest; ECDSA the digest, cut
 * to the curve's size when longer (FIPS 186-5 §6.4.1 uses the leftmost bits; the NIST curves'
 * sizes are whole bytes, P-521's exceeds every digest); EdDSA the digest itself (an OpenPGP
 * EdDSALegacy signature signs the hash, RFC 9580 §5.2.3.3).
 */
export function cdsInput(attributes: AlgorithmAttributes, hash: CdsHash, digest: Uint8Array): Uint8Array {
  if (digest.length !== DIGEST_BYTES[hash]) throw new WireFormatError(`a ${hash} digest has ${DIGEST_BYTES[hash]} bytes, not ${digest.length}`, 0);
  if (attributes.algorithm === 'rsa') return concatBytes(DIGEST_INFO_PREFIX[hash], digest);
  if (attributes.algorithm === 'ecdsa') {
    const size = attributes.curve === undefined ? undefined : EC_FIELD_BYTES[attributes.curve];
    if (size === undefined) throw new UnsupportedError(`ECDSA on ${attributes.curve ?? `OID ${attributes.oid}`} is not supported`);
    return Uint8Array.from(digest.subarray(0, Math.min(digest.length, size)));
  }
  if (attributes.algorithm === 'eddsa') {
    if (attributes.curve !== 'ed25519') throw new UnsupportedError(`EdDSA on ${attributes.curve ?? `OID ${attributes.oid}`} is not supported`);
    return Uint8Array.from(digest);
  }
  throw new UnsupportedError(`a ${attributes.algorithm} key cannot sign`);
}

/**
 * PSO: COMPUTE DIGITAL SIGNATURE of `digest` with the signature key (3.4.1 §7.2.10), access PW1
 * 81 verified (and, when C4 says so, verified again before each signature). Returns the raw
 * signature: RSA s, ECDSA r || s, EdDSA R || S. 6982 (PIN needed) comes back as CardStatusError.
 */
export async function signDigest(channel: Iso7816Channel, attributes: AlgorithmAttributes, hash: CdsHash, digest: Uint8Array): Promise<Uint8Array> {
  return computeDigitalSignature(channel, cdsInput(attributes, hash, digest));
}
