import { createHash } from 'node:crypto';
import { AgentError, CardStatusError, UnsupportedError } from '../../errors.js';
import type { Secret } from '../../secret.js';
import { Iso7816Channel, SHORT_LIMITS, type ApduTracer } from '../iso7816/channel.js';
import type { CardTransport } from '../transport.js';
import { parseApplicationData, parsePwStatus, type ApplicationData, type PwStatus } from './application-data.js';
import {
  CRT,
  DO,
  getData,
  internalAuthenticate,
  PW1_82,
  readPublicKey,
  resetVerifyState,
  selectOpenPgp,
  verify,
  verifyState,
  type VerifyState,
} from './commands.js';
import { deriveKdfPin, parseKdfDo, type KdfParams } from './kdf.js';
import { cardKeyFrom, parsePublicKeyTemplate, sshUnusableReason, type CardKey, type CardPublicKey } from './public-key.js';

export { INS, OPENPGP_AID, PW1_81, PW1_82, PW3_83 } from './commands.js';

export type HashName = 'sha1' | 'sha256' | 'sha384' | 'sha512';

/** DER prefixes of DigestInfo (RFC 8017 §9.2, note 1): RSA INTERNAL AUTHENTICATE signs DigestInfo (3.4.1 §7.2.13). */
export const DIGEST_INFO_PREFIX: Record<HashName, Uint8Array> = {
  sha1: Uint8Array.from(Buffer.from('3021300906052b0e03021a05000414', 'hex')),
  sha256: Uint8Array.from(Buffer.from('3031300d060960864801650304020105000420', 'hex')),
  sha384: Uint8Array.from(Buffer.from('3041300d060960864801650304020205000430', 'hex')),
  sha512: Uint8Array.from(Buffer.from('3051300d060960864801650304020305000440', 'hex')),
};

/** ECDSA signs the hash that goes with the curve (RFC 5656 §6.2.1), whatever the caller's flags. */
export const ECDSA_CURVE_HASH = { p256: 'sha256', p384: 'sha384', p521: 'sha512' } as const;

type EcdsaCurve = keyof typeof ECDSA_CURVE_HASH;
export type SigningKeyKind = { readonly kind: 'rsa'; readonly hash: HashName } | { readonly kind: 'ecdsa'; readonly curve: EcdsaCurve } | { readonly kind: 'eddsa' };

export interface OpenPgpCardOptions {
  /** Sees every APDU (PIN data blanked), for trace logs. */
  readonly tracer?: ApduTracer;
}

/**
 * One OpenPGP card application behind a transport. Reads the application related data once and
 * keeps it; every later operation costs only the APDUs it must (a signature is one APDU once PW1
 * is verified, plus 61xx rounds on a card in short mode).
 */
export class OpenPgpCard {
  private kdf: KdfParams | null | undefined;

  private constructor(
    readonly channel: Iso7816Channel,
    private appData: ApplicationData,
  ) {}

  /** SELECT, then GET DATA 6E; sets the channel's limits from what the card says (2 APDUs + 61xx rounds). */
  static async open(transport: CardTransport, options: OpenPgpCardOptions = {}): Promise<OpenPgpCard> {
    // Short mode until 6E tells us more: a card without extended length would refuse a long Le.
    const channel = new Iso7816Channel(transport, options.tracer === undefined ? {} : { tracer: options.tracer });
    await selectOpenPgp(channel);
    const ard = parseApplicationData(await getData(channel, DO.APPLICATION_RELATED_DATA));
    const card = new OpenPgpCard(channel, ard);
    card.applyLimits();
    return card;
  }

  get applicationData(): ApplicationData {
    return this.appData;
  }

  /** "MMMM:SSSSSSSS" (manufacturer:serial, uppercase hex). */
  get ident(): string {
    return this.appData.aid.ident;
  }

  get apduCount(): number {
    return this.channel.apduCount;
  }

  /**
   * Extended length when 7F66 gives both maxima (3.4.1 §4.1.3.1); otherwise short APDUs with
   * chaining and 61xx. The card's capability bit alone (old 2.x cards) is not trusted with long Le.
   */
  private applyLimits(): void {
    const a = this.appData;
    if (a.extendedLength && a.maxCommandBytes !== undefined && a.maxResponseBytes !== undefined) {
      this.channel.setLimits({ extended: true, maxCommand: a.maxCommandBytes, maxResponse: a.maxResponseBytes });
    } else {
      this.channel.setLimits(SHORT_LIMITS);
    }
  }

  /** SELECT again after a card reset (a reset deselects the application and forgets verified PINs). */
  async reselect(): Promise<void> {
    this.kdf = undefined;
    await selectOpenPgp(this.channel);
  }

  /** GET DATA of any object (3.4.1 §7.2.6). */
  async getData(tag: number): Promise<Uint8Array> {
    return getData(this.channel, tag);
  }

  /** Re-reads 6E (after PUT DATA elsewhere). */
  async refresh(): Promise<ApplicationData> {
    this.appData = parseApplicationData(await getData(this.channel, DO.APPLICATION_RELATED_DATA));
    this.kdf = undefined;
    this.applyLimits();
    return this.appData;
  }

  /** PW status bytes, fresh from the card (GET DATA C4, one APDU): retries of PW1, RC and PW3. */
  async pw1Status(): Promise<PwStatus> {
    return parsePwStatus(await getData(this.channel, DO.PW_STATUS_BYTES));
  }

  /** PW1's retry counter, fresh from the card (one APDU). */
  async pw1Retries(): Promise<number> {
    return (await this.pw1Status()).retriesPw1;
  }

  /** The authentication key (CRT A4), or why SSH cannot use it. One APDU (plus 61xx rounds); none if the algorithm is unusable. */
  async readAuthKey(): Promise<CardKey> {
    const attrs = this.appData.algorithms.aut;
    if (attrs === undefined) throw new UnsupportedError('card reports no algorithm for its authentication key');
    const reason = sshUnusableReason(attrs);
    if (reason !== undefined) return { kind: 'unsupported', reason, attributes: attrs };
    return cardKeyFrom(await readPublicKey(this.channel, CRT.AUTHENTICATION), attrs);
  }

  /** The authentication key; throws UnsupportedError when SSH cannot use it. */
  async readAuthPublicKey(): Promise<CardPublicKey> {
    const attrs = this.appData.algorithms.aut;
    if (attrs === undefined) throw new UnsupportedError('card reports no algorithm for its authentication key');
    const reason = sshUnusableReason(attrs);
    if (reason !== undefined) throw new UnsupportedError(reason);
    return parsePublicKeyTemplate(await readPublicKey(this.channel, CRT.AUTHENTICATION), attrs);
  }

  /**
   * The KDF-DO (F9) when C0 says the card has one, read once per selection. GnuPG caches it the
   * same way; a card that answers GET DATA F9 with an error has no KDF in force.
   */
  async kdfParams(): Promise<KdfParams | undefined> {
    if (!this.appData.kdfSupported) return undefined;
    if (this.kdf === undefined) {
      try {
        const k = parseKdfDo(await getData(this.channel, DO.KDF));
        this.kdf = k.algorithm === 'none' ? null : k;
      } catch (err) {
        if (!(err instanceof CardStatusError)) throw err;
        this.kdf = null;
      }
    }
    return this.kdf ?? undefined;
  }

  /**
   * VERIFY PW1 (3.4.1 §7.2.2) in mode 82 (default: INTERNAL AUTHENTICATE, decipher) or 81 (PSO:CDS).
   * With KDF in force the card wants the derived value, not the PIN (3.4.1 §4.3.2).
   * Wrong PIN: PinIncorrectError(retriesLeft); blocked: PinBlockedError.
   */
  async verifyPw1(pin: Secret, mode: number = PW1_82): Promise<void> {
    if (mode !== 0x81 && mode !== 0x82) throw new AgentError(`PW1 mode ${mode.toString(16)} is neither 81 nor 82`);
    const kdf = await this.kdfParams();
    const raw = pin.reveal();
    const data = kdf === undefined ? raw : deriveKdfPin(raw, kdf, 'pw1');
    try {
      await verify(this.channel, mode, data);
    } finally {
      raw.fill(0);
      data.fill(0);
    }
  }

  /** VERIFY without data: whether PW1 is verified now, or how many tries are left. No PIN is sent. */
  async pw1VerifiedState(mode: number = PW1_82): Promise<VerifyState> {
    return verifyState(this.channel, mode);
  }

  /** The card forgets that PW1 (82) was verified. */
  async resetPw1Status(): Promise<void> {
    await resetVerifyState(this.channel, PW1_82);
  }

  /**
   * INTERNAL AUTHENTICATE (3.4.1 §7.2.13), access: PW1 82. RSA signs DigestInfo(hash(message))
   * with `hash`; ECDSA signs the message's hash with the curve's hash (P-256 SHA-256, P-384
   * SHA-384, P-521 SHA-512); EdDSA signs the message itself. Returns the raw signature (RSA s,
   * ECDSA r||s, EdDSA R||S). A card that wants its PIN answers 6982 (CardStatusError).
   */
  async authenticate(message: Uint8Array, hash: HashName): Promise<Uint8Array> {
    const attrs = this.appData.algorithms.aut;
    if (attrs === undefined) throw new UnsupportedError('card reports no algorithm for its authentication key');
    const reason = sshUnusableReason(attrs);
    if (reason !== undefined) throw new UnsupportedError(reason);
    // sshUnusableReason passed: RSA, ECDSA on P-256/384/521, or EdDSA on Ed25519.
    const key: SigningKeyKind =
      attrs.algorithm === 'rsa' ? { kind: 'rsa', hash } : attrs.algorithm === 'ecdsa' ? { kind: 'ecdsa', curve: attrs.curve as EcdsaCurve } : { kind: 'eddsa' };
    return internalAuthenticate(this.channel, authenticationInput(key, message));
  }
}

/** The bytes INTERNAL AUTHENTICATE signs, per key kind (3.4.1 §7.2.13). Pure. */
export function authenticationInput(key: SigningKeyKind, message: Uint8Array): Uint8Array {
  if (key.kind === 'eddsa') return message;
  if (key.kind === 'ecdsa') return Uint8Array.from(createHash(ECDSA_CURVE_HASH[key.curve]).update(message).digest());
  const digest = createHash(key.hash).update(message).digest();
  const prefix = DIGEST_INFO_PREFIX[key.hash];
  const out = new Uint8Array(prefix.length + digest.length);
  out.set(prefix);
  out.set(digest, prefix.length);
  return out;
}
