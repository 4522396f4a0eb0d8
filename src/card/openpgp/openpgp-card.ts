import { createHash } from 'node:crypto';
import { AgentError, CardStatusError, UnsupportedError, WireFormatError } from '../../errors.js';
import type { Secret } from '../../secret.js';
import { Iso7816Channel, SHORT_LIMITS, type ApduTracer, type ChannelLimits } from '../iso7816/channel.js';
import { SHORT_MAX_DATA } from '../iso7816/command.js';
import { statusError, SW } from '../iso7816/status.js';
import type { CardTransport } from '../transport.js';
import { parseApplicationData, parsePwStatus, type ApplicationData, type PwStatus } from './application-data.js';
import {
  CRT,
  DO,
  getData,
  internalAuthenticate,
  internalAuthenticateCommand,
  PW1_81,
  PW1_82,
  readPublicKey,
  resetVerifyState,
  selectOpenPgp,
  verify,
  verifyState,
  type VerifyState,
} from './commands.js';
import { DIGEST_INFO_PREFIX, type DigestName } from '../../wire/digest-info.js';
import { deriveKdfPin, parseKdfDo, type KdfParams } from './kdf.js';
import { cardKeyFrom, parsePublicKeyTemplate, unreadableKeyReason, type AlgorithmAttributes, type CardKey, type CardPublicKey } from './public-key.js';

export { INS, OPENPGP_AID, PW1_81, PW1_82, PW3_83 } from './commands.js';

export type HashName = Exclude<DigestName, 'sha224'>;

export { DIGEST_INFO_PREFIX };

/** ECDSA signs the hash that goes with the curve (RFC 5656 §6.2.1), whatever the caller's flags. */
export const ECDSA_CURVE_HASH = { p256: 'sha256', p384: 'sha384', p521: 'sha512' } as const;

type EcdsaCurve = keyof typeof ECDSA_CURVE_HASH;
export type SigningKeyKind = { readonly kind: 'rsa'; readonly hash: HashName } | { readonly kind: 'ecdsa'; readonly curve: EcdsaCurve } | { readonly kind: 'eddsa' };

/** PW1's minimum length (3.4.1 §4.3.1: "PW1 min. length 6"). */
export const PW1_MIN_LENGTH = 6;

/**
 * Extended-length APDU overhead that 7F66's "maximum number of bytes in command APDU" includes:
 * CLA INS P1 P2, Lc as 00 hi lo, Le as hi lo.
 */
const EXTENDED_COMMAND_OVERHEAD = 4 + 3 + 2;
/** SW1 SW2 after the response data. */
const STATUS_WORD_BYTES = 2;
/** What a short-only card with command chaining and no stated limit may receive in one chained command. */
const CHAINED_FALLBACK_TOTAL = 2048;

export interface OpenPgpCardOptions {
  /** Sees every APDU (PIN data blanked), for trace logs. */
  readonly tracer?: ApduTracer;
}

/** The input does not fit into what the card says it can take or give back. */
export class CardLimitError extends AgentError {
  override readonly code = 'E_CARD_LIMIT';
}

/** The card has a KDF-DO (C0 says so) that could not be read: no PIN may be sent underived. */
export class KdfUnavailableError extends AgentError {
  override readonly code = 'E_KDF_UNAVAILABLE';
}

/** A PIN the card would refuse by its length: it is not sent (it would cost a try on some cards). */
export class PinFormatError extends AgentError {
  override readonly code = 'E_PIN_FORMAT';
}

/**
 * One OpenPGP card application behind a transport: one function per command, with the
 * application related data (6E) kept once read. Knows nothing of SSH, PINs' origins or
 * transactions (the card session does those).
 */
export class OpenPgpCard {
  private kdf: KdfParams | null | undefined;
  private appData: ApplicationData | undefined;
  /** The most data one command may carry in all (across chained APDUs). */
  private maxCommandTotal = SHORT_MAX_DATA;
  /** The most response data the card gives in one answer (extended mode), its status word not counted. */
  private maxResponseData = Number.POSITIVE_INFINITY;

  constructor(readonly channel: Iso7816Channel) {}

  static channelFor(transport: CardTransport, options: OpenPgpCardOptions = {}): Iso7816Channel {
    // Short mode until 6E tells us more: a card without extended length would refuse a long Le.
    return new Iso7816Channel(transport, options.tracer === undefined ? {} : { tracer: options.tracer });
  }

  /** SELECT, then GET DATA 6E; sets the channel's limits from what the card says (2 APDUs + 61xx rounds). */
  static async open(transport: CardTransport, options: OpenPgpCardOptions = {}): Promise<OpenPgpCard> {
    const card = new OpenPgpCard(OpenPgpCard.channelFor(transport, options));
    await card.select();
    await card.readApplicationData();
    return card;
  }

  get applicationData(): ApplicationData {
    if (this.appData === undefined) throw new AgentError('application related data not read yet');
    return this.appData;
  }

  /** "MMMM:SSSSSSSS" (manufacturer:serial, uppercase hex). */
  get ident(): string {
    return this.applicationData.aid.ident;
  }

  get apduCount(): number {
    return this.channel.apduCount;
  }

  /** SELECT the OpenPGP application (3.4.1 §7.2.1). A reset or another application's SELECT deselects it. */
  async select(): Promise<void> {
    this.kdf = undefined;
    await selectOpenPgp(this.channel);
  }

  /** GET DATA 6E (3.4.1 §4.4.3.1), kept; the channel's limits follow what it says. */
  async readApplicationData(): Promise<ApplicationData> {
    this.appData = parseApplicationData(await getData(this.channel, DO.APPLICATION_RELATED_DATA));
    this.kdf = undefined;
    this.applyLimits(this.appData);
    return this.appData;
  }

  /**
   * Extended length when the card states its limits: 7F66 (3.x) gives whole APDU sizes, so a
   * command's header, Lc and Le and an answer's status word count against them; C0 (2.x) gives
   * data lengths. Le asks for 7F66's number as GnuPG and go-openpgp-card do (real cards answer
   * it). Otherwise short APDUs with chaining and 61xx. The capability bit alone (old 2.x cards)
   * is not trusted with a long Le.
   */
  private applyLimits(a: ApplicationData): void {
    const v2 = Number(a.aid.version.split('.')[0]) < 3;
    let limits: ChannelLimits = SHORT_LIMITS;
    this.maxResponseData = Number.POSITIVE_INFINITY;
    if (a.extendedLength && a.maxCommandBytes !== undefined && a.maxResponseBytes !== undefined) {
      limits = { extended: true, maxCommand: v2 ? a.maxCommandBytes : a.maxCommandBytes - EXTENDED_COMMAND_OVERHEAD, maxResponse: a.maxResponseBytes };
      this.maxResponseData = v2 ? a.maxResponseBytes : a.maxResponseBytes - STATUS_WORD_BYTES;
    }
    this.channel.setLimits(limits);
    const applied = this.channel.getLimits();
    if (applied.extended) this.maxCommandTotal = applied.maxCommand;
    else if (v2 && a.maxCommandBytes !== undefined) this.maxCommandTotal = a.commandChaining ? a.maxCommandBytes : Math.min(a.maxCommandBytes, SHORT_MAX_DATA);
    else this.maxCommandTotal = a.commandChaining ? CHAINED_FALLBACK_TOTAL : SHORT_MAX_DATA;
  }

  /**
   * Refuses, before anything reaches the card, a command whose data or expected answer exceeds
   * what the card says it takes (a too-long APDU can make a reader drop the card).
   */
  checkFits(what: string, dataLength: number, responseLength: number): void {
    if (dataLength > this.maxCommandTotal) {
      throw new CardLimitError(`${what}: ${dataLength} bytes of input, but the card takes at most ${this.maxCommandTotal} in one command`);
    }
    // Short mode fetches long answers with GET RESPONSE; extended mode must get it in one.
    if (this.channel.getLimits().extended && responseLength > this.maxResponseData) {
      throw new CardLimitError(`${what}: the answer needs ${responseLength} bytes, but the card gives at most ${this.maxResponseData}`);
    }
  }

  /** GET DATA of any object (3.4.1 §7.2.6). */
  async getData(tag: number): Promise<Uint8Array> {
    return getData(this.channel, tag);
  }

  /** PW status bytes, fresh from the card (GET DATA C4, one APDU): retries of PW1, RC and PW3. */
  async pw1Status(): Promise<PwStatus> {
    return parsePwStatus(await getData(this.channel, DO.PW_STATUS_BYTES));
  }

  /** PW1's retry counter, fresh from the card (one APDU). */
  async pw1Retries(): Promise<number> {
    return (await this.pw1Status()).retriesPw1;
  }

  /** The three key fingerprints (GET DATA C5, one APDU): sig, dec, aut, 20 bytes each. */
  async fingerprints(): Promise<Uint8Array> {
    return getData(this.channel, DO.FINGERPRINTS);
  }

  /** The authentication key (CRT A4): one APDU (plus 61xx rounds); none when the driver does not read its algorithm. */
  async readAuthKey(): Promise<CardKey> {
    const attrs = this.requireAttributes();
    if (unreadableKeyReason(attrs) !== undefined) return cardKeyFrom(new Uint8Array(0), attrs);
    return cardKeyFrom(await readPublicKey(this.channel, CRT.AUTHENTICATION), attrs);
  }

  /** The authentication key; throws UnsupportedError when the driver does not read its algorithm. */
  async readAuthPublicKey(): Promise<CardPublicKey> {
    const attrs = this.requireAttributes();
    const reason = unreadableKeyReason(attrs);
    if (reason !== undefined) throw new UnsupportedError(reason);
    return parsePublicKeyTemplate(await readPublicKey(this.channel, CRT.AUTHENTICATION), attrs);
  }

  private requireAttributes(): AlgorithmAttributes {
    const attrs = this.applicationData.algorithms.aut;
    if (attrs === undefined) throw new UnsupportedError('card reports no algorithm for its authentication key');
    return attrs;
  }

  /**
   * The KDF-DO (F9) when C0 says the card has one, read once per selection. A card that says it
   * has one but cannot show it gets no PIN at all (KdfUnavailableError): sending the PIN
   * underived to a KDF card would cost a try.
   */
  async kdfParams(): Promise<KdfParams | undefined> {
    if (!this.applicationData.kdfSupported) return undefined;
    if (this.kdf === undefined) {
      try {
        const k = parseKdfDo(await getData(this.channel, DO.KDF));
        this.kdf = k.algorithm === 'none' ? null : k;
      } catch (err) {
        // A reset or a removal is not about the KDF-DO: it goes up as it is.
        if (!(err instanceof CardStatusError) && !(err instanceof WireFormatError)) throw err;
        throw new KdfUnavailableError(
          `card ${this.ident} has a KDF-DO (F9) that could not be read (${err.message}); no PIN is sent, as it would go underived`,
          { cause: err },
        );
      }
    }
    return this.kdf ?? undefined;
  }

  /**
   * VERIFY PW1 (3.4.1 §7.2.2) in mode 82 (INTERNAL AUTHENTICATE, decipher) or 81 (PSO:CDS). A
   * PIN outside PW1's length limits (6 up to C4's maximum) is refused without being sent. With
   * KDF in force the card wants the derived value, not the PIN (3.4.1 §4.3.2). Any answer but
   * 9000 is a PinRejectedError (PinIncorrectError with the retries, PinBlockedError).
   */
  async verifyPw1(pin: Secret, mode: number = PW1_82): Promise<void> {
    if (mode !== PW1_81 && mode !== PW1_82) throw new AgentError(`PW1 mode ${mode.toString(16)} is neither 81 nor 82`);
    const kdf = await this.kdfParams();
    if (pin.length < PW1_MIN_LENGTH) throw new PinFormatError(`a User PIN has at least ${PW1_MIN_LENGTH} characters; this one has ${pin.length}, so it was not sent to card ${this.ident}`);
    const max = this.applicationData.pwStatus?.maxLengthPw1;
    // With KDF the card stores a digest: its length limit is not the PIN's.
    if (kdf === undefined && max !== undefined && max > 0 && pin.length > max) {
      throw new PinFormatError(`card ${this.ident} takes a User PIN of at most ${max} characters; this one has ${pin.length}, so it was not sent`);
    }
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

  /** Whether VERIFY P1=FF (forget a verified PIN) exists: OpenPGP card 3.0 and later. */
  get canResetVerification(): boolean {
    return Number(this.applicationData.aid.version.split('.')[0]) >= 3;
  }

  /** The card forgets that PW1 (82, or 81) was verified (VERIFY P1=FF, 3.x cards). */
  async resetPw1Status(mode: number = PW1_82): Promise<void> {
    if (!this.canResetVerification) throw new UnsupportedError(`card ${this.ident} (OpenPGP ${this.applicationData.aid.version}) cannot forget a verified PIN on request`);
    await resetVerifyState(this.channel, mode);
  }

  /**
   * INTERNAL AUTHENTICATE (3.4.1 §7.2.13), access: PW1 82. RSA signs DigestInfo(hash(message))
   * with `hash`; ECDSA signs the message's hash with the curve's hash (P-256 SHA-256, P-384
   * SHA-384, P-521 SHA-512); EdDSA signs the message itself. Returns the raw signature (RSA s,
   * ECDSA r||s, EdDSA R||S). A card that wants its PIN answers SecurityStatusNotSatisfiedError.
   * Input the card cannot take is refused before it is sent (CardLimitError).
   */
  async authenticate(message: Uint8Array, hash: HashName): Promise<Uint8Array> {
    return internalAuthenticate(this.channel, this.authenticationInputFor(message, hash));
  }

  /**
   * Several INTERNAL AUTHENTICATEs of `inputs` (from authenticationInputFor) back to back, in one
   * PC/SC call (see Iso7816Channel.transceiveSeries), up to the first the card does not answer
   * 9000: for each sent, in order, the raw signature or the typed error of its status word
   * (SecurityStatusNotSatisfiedError when the card wants PW1). Those after it were not sent.
   */
  async authenticateSeries(inputs: readonly Uint8Array[]): Promise<(Uint8Array | CardStatusError)[]> {
    const out = await this.channel.transceiveSeries(inputs.map((data) => internalAuthenticateCommand(data)));
    if (out.length === 0 && inputs.length > 0) throw new CardStatusError('INTERNAL AUTHENTICATE: the card answered nothing', SW.NO_PRECISE_DIAGNOSIS);
    return out.map((r) => (r.sw === SW.SUCCESS ? r.data : statusError('INTERNAL AUTHENTICATE', r.sw)));
  }

  /**
   * What INTERNAL AUTHENTICATE signs for `message` with this card's authentication key; input the
   * card cannot take is refused here (CardLimitError), before anything is sent.
   */
  authenticationInputFor(message: Uint8Array, hash: HashName): Uint8Array {
    const attrs = this.requireAttributes();
    const reason = unreadableKeyReason(attrs);
    if (reason !== undefined) throw new UnsupportedError(reason);
    // Readable keys: RSA, ECDSA on P-256/384/521, or EdDSA on Ed25519.
    const key: SigningKeyKind =
      attrs.algorithm === 'rsa' ? { kind: 'rsa', hash } : attrs.algorithm === 'ecdsa' ? { kind: 'ecdsa', curve: attrs.curve as EcdsaCurve } : { kind: 'eddsa' };
    const input = authenticationInput(key, message);
    this.checkFits('INTERNAL AUTHENTICATE', input.length, signatureLength(attrs));
    return input;
  }
}

/** The length of a raw signature by a key with these attributes. */
export function signatureLength(a: AlgorithmAttributes): number {
  if (a.algorithm === 'rsa') return Math.ceil(a.bits / 8);
  if (a.algorithm === 'ecdsa') return { p256: 64, p384: 96, p521: 132 }[a.curve as EcdsaCurve] ?? 132;
  return 64;
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
