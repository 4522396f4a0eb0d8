import { createHash } from 'node:crypto';
import { CardStatusError, UnsupportedError } from '../../errors.js';
import type { Secret } from '../../secret.js';
import { Iso7816Channel, type ApduTracer } from '../iso7816/channel.js';
import { statusError } from '../iso7816/status.js';
import type { CardTransport } from '../transport.js';
import { parseApplicationData, parsePwStatus, type ApplicationData } from './application-data.js';
import { deriveKdfPin, parseKdfDo, type KdfParams } from './kdf.js';
import { parsePublicKeyTemplate, sshUnusableReason, type CardPublicKey } from './public-key.js';

/** The OpenPGP application's AID prefix: RID D276000124, PIX 01 (3.4.1 §4.2.1). */
export const OPENPGP_AID = Uint8Array.of(0xd2, 0x76, 0x00, 0x01, 0x24, 0x01);

export const INS = {
  SELECT: 0xa4,
  GET_DATA: 0xca,
  VERIFY: 0x20,
  GENERATE_ASYMMETRIC_KEY_PAIR: 0x47,
  INTERNAL_AUTHENTICATE: 0x88,
  PSO: 0x2a,
} as const;

/** PW1 references for VERIFY (3.4.1 §7.2.2): 81 for PSO:CDS, 82 for everything else. */
export const PW1_81 = 0x81;
export const PW1_82 = 0x82;

export type HashName = 'sha1' | 'sha256' | 'sha384' | 'sha512';

/** DER prefixes of DigestInfo (RFC 8017 §9.2, note 1). */
const DIGEST_INFO_PREFIX: Record<HashName, string> = {
  sha1: '3021300906052b0e03021a05000414',
  sha256: '3031300d060960864801650304020105000420',
  sha384: '3041300d060960864801650304020205000430',
  sha512: '3051300d060960864801650304020305000440',
};

export interface OpenPgpCardOptions {
  readonly tracer?: ApduTracer;
}

/**
 * One OpenPGP card application behind a transport. Reads the application related data once and
 * keeps it; every later operation costs only the APDUs it must.
 */
export class OpenPgpCard {
  private kdf: KdfParams | undefined;

  private constructor(
    readonly channel: Iso7816Channel,
    private appData: ApplicationData,
  ) {}

  /** SELECT, then GET DATA 6E; sets the channel's limits from what the card says (2 APDUs + 61xx). */
  static async open(transport: CardTransport, options: OpenPgpCardOptions = {}): Promise<OpenPgpCard> {
    const channel = new Iso7816Channel(transport, options.tracer);
    await select(channel);
    const ard = parseApplicationData(await channel.transceive({ ins: INS.GET_DATA, p1: 0x00, p2: 0x6e, le: 0 }, 'GET DATA 6E'));
    const card = new OpenPgpCard(channel, ard);
    card.applyLimits();
    return card;
  }

  get applicationData(): ApplicationData {
    return this.appData;
  }

  get ident(): string {
    return this.appData.aid.ident;
  }

  private applyLimits(): void {
    const a = this.appData;
    if (a.extendedLength && a.maxCommandBytes !== undefined && a.maxResponseBytes !== undefined) {
      this.channel.setLimits({ extended: true, maxCommandData: Math.min(a.maxCommandBytes, 65535), maxResponse: a.maxResponseBytes });
    } else {
      this.channel.setLimits({ extended: false, maxCommandData: 255, maxResponse: 256 });
    }
  }

  /** SELECT again after a card reset (the application is deselected by the reset). 3.4.1 §7.2.1. */
  async reselect(): Promise<void> {
    await select(this.channel);
  }

  // GET DATA (3.4.1 §7.2.6), access: always.
  async getData(tag: number): Promise<Uint8Array> {
    return this.channel.transceive({ ins: INS.GET_DATA, p1: tag >> 8, p2: tag & 0xff, le: 0 }, `GET DATA ${tag.toString(16)}`);
  }

  /** Re-reads 6E (after PUT DATA elsewhere, or to refresh the PW status). */
  async refresh(): Promise<ApplicationData> {
    this.appData = parseApplicationData(await this.getData(0x6e));
    this.applyLimits();
    return this.appData;
  }

  /** PW1's retry counter, fresh from the card (GET DATA C4, one APDU). */
  async pw1Retries(): Promise<number> {
    return parsePwStatus(await this.getData(0xc4)).retriesPw1;
  }

  // GENERATE ASYMMETRIC KEY PAIR, read mode P1=81 (3.4.1 §7.2.14), access: always. CRT A4 = authentication key.
  async readAuthPublicKey(): Promise<CardPublicKey> {
    const attrs = this.appData.algorithms.aut;
    if (attrs === undefined) throw new UnsupportedError('card reports no algorithm for its authentication key');
    const reason = sshUnusableReason(attrs);
    if (reason !== undefined) throw new UnsupportedError(reason);
    const resp = await this.channel.transceive(
      { ins: INS.GENERATE_ASYMMETRIC_KEY_PAIR, p1: 0x81, p2: 0x00, data: Uint8Array.of(0xa4, 0x00), le: 0 },
      'read authentication public key',
    );
    return parsePublicKeyTemplate(resp, attrs);
  }

  private async kdfParams(): Promise<KdfParams | undefined> {
    if (!this.appData.kdfSupported) return undefined;
    if (this.kdf === undefined) {
      try {
        this.kdf = parseKdfDo(await this.getData(0xf9));
      } catch (err) {
        if (err instanceof CardStatusError) return undefined;
        throw err;
      }
    }
    return this.kdf;
  }

  // VERIFY (3.4.1 §7.2.2): PW1 in mode 81 or 82; with KDF on, the card wants the derived value (§4.3.2).
  async verifyPw1(pin: Secret, mode: number = PW1_82): Promise<void> {
    const kdf = await this.kdfParams();
    const raw = pin.reveal();
    const data = kdf === undefined ? raw : deriveKdfPin(raw, kdf, 'pw1');
    try {
      await this.channel.transceive({ ins: INS.VERIFY, p1: 0x00, p2: mode, data }, 'VERIFY PW1');
    } finally {
      raw.fill(0);
      data.fill(0);
    }
  }

  /** VERIFY without data (3.4.1 §7.2.2): true if verified; otherwise the retries left. No PIN is sent. */
  async pw1VerifiedState(mode: number = PW1_82): Promise<{ verified: true } | { verified: false; retriesLeft: number }> {
    const { sw } = await this.channel.transceiveRaw({ ins: INS.VERIFY, p1: 0x00, p2: mode });
    if (sw === 0x9000) return { verified: true };
    if ((sw & 0xfff0) === 0x63c0) return { verified: false, retriesLeft: sw & 0x0f };
    if (sw === 0x6983) return { verified: false, retriesLeft: 0 };
    throw statusError('VERIFY status', sw);
  }

  /** VERIFY with P1=FF (3.4.1 §7.2.2): the card forgets that PW1 was verified. */
  async resetPw1Status(): Promise<void> {
    await this.channel.transceive({ ins: INS.VERIFY, p1: 0xff, p2: PW1_82 }, 'VERIFY reset PW1 82');
  }

  /**
   * INTERNAL AUTHENTICATE (3.4.1 §7.2.13), access: PW1 82. RSA signs a DigestInfo, ECDSA the
   * message's hash, EdDSA the message itself. Returns the card's raw signature (RSA s, ECDSA r||s,
   * EdDSA R||S). A card that wants its PIN answers 6982.
   */
  async authenticate(message: Uint8Array, hash: HashName): Promise<Uint8Array> {
    const attrs = this.appData.algorithms.aut;
    if (attrs === undefined) throw new UnsupportedError('no authentication key algorithm');
    let input: Uint8Array;
    if (attrs.algorithm === 'rsa') {
      input = Buffer.concat([Buffer.from(DIGEST_INFO_PREFIX[hash], 'hex'), createHash(hash).update(message).digest()]);
    } else if (attrs.algorithm === 'ecdsa') {
      input = createHash(hash).update(message).digest();
    } else {
      input = message;
    }
    return this.channel.transceive({ ins: INS.INTERNAL_AUTHENTICATE, p1: 0x00, p2: 0x00, data: input, le: 0 }, 'INTERNAL AUTHENTICATE');
  }
}

// SELECT by DF name (3.4.1 §7.2.1), access: always.
async function select(channel: Iso7816Channel): Promise<void> {
  await channel.transceive({ ins: INS.SELECT, p1: 0x04, p2: 0x00, data: OPENPGP_AID }, 'SELECT OpenPGP application');
}

