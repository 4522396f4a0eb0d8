import { randomBytes, randomInt } from 'node:crypto';
import { EventEmitter } from 'node:events';
import { algorithmAttributes, algorithmFromAttributes, decipherWith, generateKey, publicKeyTemplate, signWith, type SimAlgorithm, type Slot } from './card-keys.js';
import { equalBytes } from '../wire/bytes.js';
import { v4Fingerprint } from './openpgp-fingerprint.js';
import { doGet, doSet, loadState, makeKdf, MAX_RETRIES, saveState, type CardState } from './card-state.js';
import { parseCommandApdu, type CommandApdu } from './command-apdu.js';
import { concat, hex, parseTlvs, tlv, unhex } from './tlv-build.js';

/** OpenPGP card application identifier prefix: RID D276000124, PIX 01 (3.4.1 §4.2.1). */
const AID_PREFIX = Uint8Array.of(0xd2, 0x76, 0x00, 0x01, 0x24, 0x01);
/**
 * Another application on the same card, as a YubiKey has (PIV, NIST SP 800-73-4): selecting it
 * deselects OpenPGP, and OpenPGP's instructions then get 6D00 from it, as a real PIV applet answers.
 */
const PIV_AID = Uint8Array.of(0xa0, 0x00, 0x00, 0x03, 0x08);
const VERSION = [0x03, 0x04] as const;

export const SW = {
  OK: 0x9000,
  WRONG_LENGTH: 0x6700,
  SECURITY_STATUS_NOT_SATISFIED: 0x6982,
  AUTH_METHOD_BLOCKED: 0x6983,
  CONDITIONS_NOT_SATISFIED: 0x6985,
  WRONG_DATA: 0x6a80,
  FUNCTION_NOT_SUPPORTED: 0x6a81,
  REFERENCED_DATA_NOT_FOUND: 0x6a88,
  WRONG_P1P2: 0x6b00,
  INCORRECT_P1P2: 0x6a86,
  INS_NOT_SUPPORTED: 0x6d00,
  CLA_NOT_SUPPORTED: 0x6e00,
  SECURITY_ISSUE_UIF: 0x6600,
  LAST_CMD_EXPECTED: 0x6883,
  NOT_SELECTED: 0x6985,
} as const;

export interface VirtualCardOptions {
  /** 4-byte serial; random when absent. */
  serial?: number;
  /**
   * 2-byte manufacturer. Default 0xFF00: the spec's range FF00–FFFE is for cards whose serials are
   * assigned at random, which fits a virtual card; FFFF would mark a test card that hosts may refuse.
   */
  manufacturer?: number;
  userPin?: string;
  adminPin?: string;
  resetCode?: string;
  authAlgorithm?: SimAlgorithm;
  signAlgorithm?: SimAlgorithm;
  decryptAlgorithm?: SimAlgorithm;
  /** true: extended Lc/Le and 7F66; false: short APDUs only (61xx and chaining). */
  extendedLength?: boolean;
  kdf?: boolean;
  /** UIF on per slot. */
  touch?: Partial<Record<Slot, boolean>>;
  touchTimeoutMs?: number;
  /** For tests: touch automatically this long after the card starts waiting. */
  autoTouchMs?: number;
  pw1ValidForMultipleSignatures?: boolean;
}

class CardError extends Error {
  constructor(readonly sw: number) {
    super(`SW ${sw.toString(16)}`);
  }
}

const sw2 = (sw: number): Uint8Array => Uint8Array.of(sw >> 8, sw & 0xff);

/** A virtual OpenPGP card 3.4 (card side). Events: 'touch-wanted' (slot), 'touched'. */
export class VirtualCard extends EventEmitter {
  private selected = false;
  /** The PIV stand-in is selected (see PIV_AID). */
  private foreignSelected = false;
  private pw1Sign = false;
  private pw1Other = false;
  private pw3 = false;
  private chain: { ins: number; p1: number; p2: number; data: Uint8Array[] } | undefined;
  private pendingResponse: Uint8Array | undefined;
  private touchWaiter: (() => void) | undefined;
  private readonly opts: VirtualCardOptions;

  private constructor(
    readonly state: CardState,
    private readonly path: string | undefined,
    options: VirtualCardOptions,
  ) {
    super();
    this.opts = options;
  }

  /** A fresh card with keys generated for each slot. */
  static async create(options: VirtualCardOptions = {}, path?: string): Promise<VirtualCard> {
    const userPin = options.userPin ?? '123456';
    const adminPin = options.adminPin ?? '12345678';
    const algorithms: Record<Slot, SimAlgorithm> = {
      sig: options.signAlgorithm ?? options.authAlgorithm ?? 'ed25519',
      dec: options.decryptAlgorithm ?? (options.authAlgorithm?.startsWith('rsa') ? options.authAlgorithm : options.authAlgorithm?.startsWith('p') ? options.authAlgorithm : 'x25519'),
      aut: options.authAlgorithm ?? 'ed25519',
    };
    const enc = (s: string): string => hex(new TextEncoder().encode(s));
    const state: CardState = {
      version: 1,
      manufacturer: options.manufacturer ?? 0xff00,
      serial: options.serial ?? randomInt(0x10000000, 0x7fffffff),
      pins: { pw1: enc(userPin), rc: options.resetCode === undefined ? '' : enc(options.resetCode), pw3: enc(adminPin) },
      retries: { pw1: MAX_RETRIES, rc: options.resetCode === undefined ? 0 : MAX_RETRIES, pw3: MAX_RETRIES },
      algorithms,
      keys: {},
      dos: {},
      signatureCounter: 0,
      extendedLength: options.extendedLength ?? true,
      pw1ValidForMultipleSignatures: options.pw1ValidForMultipleSignatures ?? true,
    };
    if (options.kdf === true) {
      const k = makeKdf(userPin, options.resetCode, adminPin);
      doSet(state, 0xf9, k.kdfDo);
      state.pins = { pw1: hex(k.pw1), rc: hex(k.rc), pw3: hex(k.pw3) };
    }
    for (const slot of ['sig', 'dec', 'aut'] as const) {
      if (options.touch?.[slot] === true) doSet(state, UIF_TAG[slot], Uint8Array.of(0x01, 0x20));
    }
    const card = new VirtualCard(state, path, options);
    for (const slot of ['aut', 'sig', 'dec'] as const) {
      const alg = slot !== 'dec' && algorithms[slot] === 'x25519' ? 'ed25519' : algorithms[slot];
      state.keys[slot] = await generateKey(alg);
      card.recordKeyGenerated(slot);
    }
    await card.persist();
    return card;
  }

  /** The card stored at `path`, or a new one created there on first use. */
  static async loadOrCreate(path: string, options: VirtualCardOptions = {}): Promise<VirtualCard> {
    const state = await loadState(path);
    if (state !== undefined) return new VirtualCard(state, path, options);
    return VirtualCard.create(options, path);
  }

  get ident(): string {
    const m = this.state.manufacturer.toString(16).padStart(4, '0');
    const s = this.state.serial.toString(16).padStart(8, '0');
    return `${m}:${s}`.toUpperCase();
  }

  /** Historical bytes (ISO 7816-4 §8.1.1): category 00, card capabilities 73 with chaining (+ extended length). */
  get historicalBytes(): Uint8Array {
    return Uint8Array.of(0x00, 0x73, 0x00, 0x00, this.state.extendedLength ? 0xe0 : 0x80, 0x05, 0x90, 0x00);
  }

  /** ATR: T=1 card, direct convention, with the historical bytes above and TCK. */
  get atr(): Uint8Array {
    const hist = this.historicalBytes;
    const body = concat(Uint8Array.of(0x80 | hist.length, 0x80, 0x01), hist);
    let tck = 0;
    for (const b of body) tck ^= b;
    return concat(Uint8Array.of(0x3b), body, Uint8Array.of(tck));
  }

  /** A card reset: verified PINs, selection and pending chains are gone. */
  reset(): void {
    this.selected = false;
    this.foreignSelected = false;
    this.pw1Sign = this.pw1Other = this.pw3 = false;
    this.chain = undefined;
    this.pendingResponse = undefined;
  }

  /** The user touches the card. */
  touch(): void {
    const w = this.touchWaiter;
    this.touchWaiter = undefined;
    w?.();
  }

  /** Command APDUs processed since the card was loaded (benchmarks count APDUs per signature). */
  apduCount = 0;

  /** One command APDU in, response data + SW out. Never throws. */
  async process(apdu: Uint8Array): Promise<Uint8Array> {
    this.apduCount++;
    try {
      return await this.dispatch(apdu);
    } catch (err) {
      if (err instanceof CardError) return sw2(err.sw);
      return sw2(0x6f00); // no precise diagnosis
    }
  }

  private async dispatch(raw: Uint8Array): Promise<Uint8Array> {
    const cmd = parseCommandApdu(raw);
    if (cmd === undefined) throw new CardError(SW.WRONG_LENGTH);
    if ((cmd.cla & 0xe0) !== 0 && cmd.cla !== 0x0c) throw new CardError(SW.CLA_NOT_SUPPORTED);
    if (cmd.extended && !this.state.extendedLength) throw new CardError(SW.WRONG_LENGTH);
    if (cmd.ins === 0xc0) return this.getResponse(cmd);
    this.pendingResponse = undefined;
    // Command chaining (ISO 7816-4 §5.1.1.1): collect data until the last command.
    if ((cmd.cla & 0x10) !== 0) {
      if (this.chain !== undefined && (this.chain.ins !== cmd.ins || this.chain.p1 !== cmd.p1 || this.chain.p2 !== cmd.p2)) {
        this.chain = undefined;
        throw new CardError(SW.LAST_CMD_EXPECTED);
      }
      this.chain ??= { ins: cmd.ins, p1: cmd.p1, p2: cmd.p2, data: [] };
      this.chain.data.push(Uint8Array.from(cmd.data));
      return sw2(SW.OK);
    }
    let full: CommandApdu = cmd;
    if (this.chain !== undefined) {
      const chain = this.chain;
      this.chain = undefined;
      if (chain.ins !== cmd.ins) throw new CardError(SW.LAST_CMD_EXPECTED);
      full = { ...cmd, data: concat(...chain.data, cmd.data) };
    }
    const data = await this.execute(full);
    return this.respond(data, full.le);
  }

  /** Short-only cards hand out long responses in pieces (61xx + GET RESPONSE). */
  private respond(data: Uint8Array, le: number): Uint8Array {
    const max = this.state.extendedLength ? 65536 : 256;
    const first = Math.min(le === 0 ? max : le, max);
    if (data.length <= first) return concat(data, sw2(SW.OK));
    if (this.state.extendedLength && le !== 0 && le < data.length) {
      // An extended host asked for less than there is: 6Cxx is only for short Le; give what fits.
      this.pendingResponse = data.subarray(first);
    } else this.pendingResponse = data.subarray(first);
    const rest = this.pendingResponse.length;
    return concat(data.subarray(0, first), Uint8Array.of(0x61, rest > 255 ? 0 : rest));
  }

  private getResponse(cmd: CommandApdu): Uint8Array {
    const pending = this.pendingResponse;
    if (pending === undefined) throw new CardError(SW.CONDITIONS_NOT_SATISFIED);
    const n = Math.min(cmd.le === 0 ? 256 : cmd.le, pending.length);
    const out = pending.subarray(0, n);
    const rest = pending.subarray(n);
    this.pendingResponse = rest.length > 0 ? rest : undefined;
    if (rest.length === 0) return concat(out, sw2(SW.OK));
    return concat(out, Uint8Array.of(0x61, rest.length > 255 ? 0 : rest.length));
  }

  private async execute(cmd: CommandApdu): Promise<Uint8Array> {
    if (cmd.ins === 0xa4) return this.select(cmd);
    if (cmd.ins === 0x44 && this.terminated()) return this.activate();
    if (this.foreignSelected) throw new CardError(0x6d00);
    if (!this.selected) throw new CardError(SW.CONDITIONS_NOT_SATISFIED);
    switch (cmd.ins) {
      case 0xca:
        return this.getData(cmd);
      case 0x20:
        return this.verify(cmd);
      case 0x24:
        return this.changeReferenceData(cmd);
      case 0x2c:
        return this.resetRetryCounter(cmd);
      case 0x47:
        return this.generateKeyPair(cmd);
      case 0xda:
        return this.putData(cmd);
      case 0x2a:
        return this.pso(cmd);
      case 0x88:
        return this.internalAuthenticate(cmd);
      case 0x84:
        return Uint8Array.from(randomBytes(Math.min(cmd.le === 0 ? 8 : cmd.le, 256)));
      case 0xe6:
        return this.terminate(cmd);
      case 0x44:
        return new Uint8Array(0);
      default:
        throw new CardError(SW.INS_NOT_SUPPORTED);
    }
  }

  // SELECT (3.4.1 §7.2.1): by DF name; answers 9000 with no data.
  private select(cmd: CommandApdu): Uint8Array {
    if (cmd.p1 !== 0x04) throw new CardError(SW.INCORRECT_P1P2);
    const name = cmd.data;
    const matches = name.length >= 6 && AID_PREFIX.every((b, i) => name[i] === b);
    const piv = name.length >= PIV_AID.length && PIV_AID.every((b, i) => name[i] === b);
    if (!matches && !piv) throw new CardError(0x6a82);
    this.reset();
    this.selected = matches;
    this.foreignSelected = piv;
    return new Uint8Array(0);
  }

  private terminated(): boolean {
    return this.state.dos['terminated'] === '01';
  }

  // GET DATA (3.4.1 §7.2.6): always allowed.
  private getData(cmd: CommandApdu): Uint8Array {
    const tag = (cmd.p1 << 8) | cmd.p2;
    const value = this.dataObject(tag);
    if (value === undefined) throw new CardError(SW.REFERENCED_DATA_NOT_FOUND);
    return value;
  }

  private aid(): Uint8Array {
    const { manufacturer: m, serial: s } = this.state;
    return concat(AID_PREFIX, Uint8Array.of(...VERSION, m >> 8, m & 0xff, s >>> 24, (s >>> 16) & 0xff, (s >>> 8) & 0xff, s & 0xff, 0, 0));
  }

  private pwStatus(): Uint8Array {
    const r = this.state.retries;
    return Uint8Array.of(this.state.pw1ValidForMultipleSignatures ? 0x01 : 0x00, 0x7f, 0x7f, 0x7f, r.pw1, r.rc, r.pw3);
  }

  private extendedCapabilities(): Uint8Array {
    // b6 key import, b5 PW status changeable, b4 private DOs, b3 algorithm attributes changeable, b1 KDF-DO.
    return Uint8Array.of(0x3d, 0x00, 0x00, 0x00, 0x08, 0x00, 0x00, 0xff, 0x00, 0x00);
  }

  private dataObject(tag: number): Uint8Array | undefined {
    const s = this.state;
    const fp = (t: number, len: number): Uint8Array => doGet(s, t) ?? new Uint8Array(len);
    switch (tag) {
      case 0x4f:
        return this.aid();
      case 0x5f52:
        return this.historicalBytes;
      case 0x5e:
      case 0x5f50:
      case 0x5b:
      case 0x5f2d:
      case 0x5f35:
      case 0x0101:
      case 0x0102:
      case 0x0103:
      case 0x0104:
      case 0x7f21:
        return doGet(s, tag) ?? new Uint8Array(0);
      case 0x65:
        return tlv(0x65, tlv(0x5b, doGet(s, 0x5b) ?? new Uint8Array(0)), tlv(0x5f2d, doGet(s, 0x5f2d) ?? new Uint8Array(0)), tlv(0x5f35, doGet(s, 0x5f35) ?? Uint8Array.of(0x39)));
      case 0x7a:
        return tlv(0x7a, tlv(0x93, Uint8Array.of((s.signatureCounter >> 16) & 0xff, (s.signatureCounter >> 8) & 0xff, s.signatureCounter & 0xff)));
      case 0x93:
        return Uint8Array.of((s.signatureCounter >> 16) & 0xff, (s.signatureCounter >> 8) & 0xff, s.signatureCounter & 0xff);
      case 0xc4:
        return this.pwStatus();
      case 0xc0:
        return this.extendedCapabilities();
      case 0xc1:
        return algorithmAttributes(s.algorithms.sig, 'sig');
      case 0xc2:
        return algorithmAttributes(s.algorithms.dec, 'dec');
      case 0xc3:
        return algorithmAttributes(s.algorithms.aut, 'aut');
      case 0xc5:
        return concat(fp(0xc7, 20), fp(0xc8, 20), fp(0xc9, 20));
      case 0xc6:
        return concat(fp(0xca, 20), fp(0xcb, 20), fp(0xcc, 20));
      case 0xcd:
        return concat(fp(0xce, 4), fp(0xcf, 4), fp(0xd0, 4));
      case 0xde:
        return this.keyInformation();
      case 0xd6:
      case 0xd7:
      case 0xd8:
        return doGet(s, tag) ?? Uint8Array.of(0x00, 0x20);
      case 0xf9:
        return doGet(s, 0xf9) ?? tlv(0x81, Uint8Array.of(0x00));
      case 0xfa:
        return this.algorithmInformation();
      case 0x7f74:
        return tlv(0x7f74, tlv(0x81, Uint8Array.of(0x20)));
      case 0x7f66:
        return s.extendedLength ? this.extendedLengthInfo() : undefined;
      case 0x6e:
        return this.applicationRelatedData();
      default:
        return undefined;
    }
  }

  private extendedLengthInfo(): Uint8Array {
    return tlv(0x7f66, tlv(0x02, Uint8Array.of(0x08, 0x00)), tlv(0x02, Uint8Array.of(0x08, 0x00)));
  }

  private keyInformation(): Uint8Array {
    const status = (slot: Slot): number => (this.state.keys[slot] === undefined ? 0x00 : 0x01);
    return tlv(0xde, Uint8Array.of(0x01, status('sig'), 0x02, status('dec'), 0x03, status('aut')));
  }

  private algorithmInformation(): Uint8Array {
    const parts: Uint8Array[] = [];
    for (const alg of ['rsa2048', 'rsa3072', 'rsa4096', 'p256', 'p384', 'p521', 'ed25519'] as const) {
      parts.push(tlv(0xc1, algorithmAttributes(alg, 'sig')));
    }
    for (const alg of ['rsa2048', 'rsa3072', 'rsa4096', 'p256', 'p384', 'p521', 'x25519'] as const) {
      parts.push(tlv(0xc2, algorithmAttributes(alg, 'dec')));
    }
    for (const alg of ['rsa2048', 'rsa3072', 'rsa4096', 'p256', 'p384', 'p521', 'ed25519'] as const) {
      parts.push(tlv(0xc3, algorithmAttributes(alg, 'aut')));
    }
    return tlv(0xfa, ...parts);
  }

  // Application Related Data (3.4.1 §4.4.1): the one object a host reads to learn the card.
  private applicationRelatedData(): Uint8Array {
    const d = (t: number): Uint8Array => tlv(t, this.dataObject(t)!);
    const discretionary = tlv(
      0x73,
      d(0xc0),
      d(0xc1),
      d(0xc2),
      d(0xc3),
      d(0xc4),
      d(0xc5),
      d(0xc6),
      d(0xcd),
      this.keyInformation(),
      d(0xd6),
      d(0xd7),
      d(0xd8),
    );
    const parts = [d(0x4f), d(0x5f52), this.dataObject(0x7f74)!];
    if (this.state.extendedLength) parts.push(this.extendedLengthInfo());
    return tlv(0x6e, ...parts, discretionary);
  }

  // VERIFY (3.4.1 §7.2.2): P2 81 PW1 for PSO:CDS, 82 PW1 other, 83 PW3. Empty data: status. P1 FF: reset status.
  private async verify(cmd: CommandApdu): Promise<Uint8Array> {
    const ref = cmd.p2;
    if (ref !== 0x81 && ref !== 0x82 && ref !== 0x83) throw new CardError(SW.INCORRECT_P1P2);
    if (cmd.p1 === 0xff) {
      if (cmd.data.length !== 0) throw new CardError(SW.WRONG_LENGTH);
      this.setVerified(ref, false);
      return new Uint8Array(0);
    }
    if (cmd.p1 !== 0x00) throw new CardError(SW.INCORRECT_P1P2);
    const which = ref === 0x83 ? 'pw3' : 'pw1';
    if (cmd.data.length === 0) {
      if (this.isVerified(ref)) return new Uint8Array(0);
      throw new CardError(this.state.retries[which] === 0 ? SW.AUTH_METHOD_BLOCKED : 0x63c0 | this.state.retries[which]);
    }
    await this.checkPin(which, cmd.data);
    this.setVerified(ref, true);
    return new Uint8Array(0);
  }

  private async checkPin(which: 'pw1' | 'pw3' | 'rc', given: Uint8Array): Promise<void> {
    if (this.state.retries[which] === 0) throw new CardError(SW.AUTH_METHOD_BLOCKED);
    const expected = unhex(this.state.pins[which]);
    if (!equalBytes(expected, given)) {
      this.state.retries[which] -= 1;
      this.setVerified(which === 'pw3' ? 0x83 : 0x82, false);
      if (which === 'pw1') this.pw1Sign = false;
      await this.persist();
      throw new CardError(0x63c0 | this.state.retries[which]);
    }
    if (this.state.retries[which] !== MAX_RETRIES) {
      this.state.retries[which] = MAX_RETRIES;
      await this.persist();
    }
  }

  private isVerified(ref: number): boolean {
    return ref === 0x81 ? this.pw1Sign : ref === 0x82 ? this.pw1Other : this.pw3;
  }

  private setVerified(ref: number, v: boolean): void {
    if (ref === 0x81) this.pw1Sign = v;
    else if (ref === 0x82) this.pw1Other = v;
    else this.pw3 = v;
  }

  // CHANGE REFERENCE DATA (3.4.1 §7.2.3): old || new; P2 81 PW1, 83 PW3.
  private async changeReferenceData(cmd: CommandApdu): Promise<Uint8Array> {
    if (cmd.p1 !== 0 || (cmd.p2 !== 0x81 && cmd.p2 !== 0x83)) throw new CardError(SW.INCORRECT_P1P2);
    const which = cmd.p2 === 0x83 ? 'pw3' : 'pw1';
    const oldLen = unhex(this.state.pins[which]).length;
    if (cmd.data.length <= oldLen) throw new CardError(SW.WRONG_LENGTH);
    await this.checkPin(which, cmd.data.subarray(0, oldLen));
    const next = cmd.data.subarray(oldLen);
    if (which === 'pw1' && next.length < 6 && doGet(this.state, 0xf9)?.[2] !== 0x03) throw new CardError(SW.WRONG_LENGTH);
    this.state.pins[which] = hex(next);
    await this.persist();
    return new Uint8Array(0);
  }

  // RESET RETRY COUNTER (3.4.1 §7.2.4): P1 00 with Reset Code || new PW1, or P1 02 with PW3 verified.
  private async resetRetryCounter(cmd: CommandApdu): Promise<Uint8Array> {
    if (cmd.p2 !== 0x81) throw new CardError(SW.INCORRECT_P1P2);
    let next: Uint8Array;
    if (cmd.p1 === 0x02) {
      if (!this.pw3) throw new CardError(SW.SECURITY_STATUS_NOT_SATISFIED);
      next = cmd.data;
    } else if (cmd.p1 === 0x00) {
      const rcLen = unhex(this.state.pins.rc).length;
      if (rcLen === 0) throw new CardError(SW.SECURITY_STATUS_NOT_SATISFIED);
      await this.checkPin('rc', cmd.data.subarray(0, rcLen));
      next = cmd.data.subarray(rcLen);
    } else throw new CardError(SW.INCORRECT_P1P2);
    if (next.length === 0) throw new CardError(SW.WRONG_LENGTH);
    this.state.pins.pw1 = hex(next);
    this.state.retries.pw1 = MAX_RETRIES;
    await this.persist();
    return new Uint8Array(0);
  }

  // GENERATE ASYMMETRIC KEY PAIR (3.4.1 §7.2.14): P1 80 generates (PW3), 81 reads the public key (always).
  private async generateKeyPair(cmd: CommandApdu): Promise<Uint8Array> {
    const crt = cmd.data[0];
    const slot: Slot | undefined = crt === 0xb6 ? 'sig' : crt === 0xb8 ? 'dec' : crt === 0xa4 ? 'aut' : undefined;
    if (slot === undefined) throw new CardError(SW.WRONG_DATA);
    if (cmd.p1 === 0x80) {
      if (!this.pw3) throw new CardError(SW.SECURITY_STATUS_NOT_SATISFIED);
      this.state.keys[slot] = await generateKey(this.state.algorithms[slot]);
      this.recordKeyGenerated(slot);
      if (slot === 'sig') this.state.signatureCounter = 0;
      await this.persist();
    } else if (cmd.p1 !== 0x81) throw new CardError(SW.INCORRECT_P1P2);
    const key = this.state.keys[slot];
    if (key === undefined) throw new CardError(SW.REFERENCED_DATA_NOT_FOUND);
    return publicKeyTemplate(key);
  }

  /** Generation time and v4 fingerprint, as the host that generated the key would write them. */
  private recordKeyGenerated(slot: Slot): void {
    const now = Math.floor(Date.now() / 1000);
    const timeTag = { sig: 0xce, dec: 0xcf, aut: 0xd0 }[slot];
    doSet(this.state, timeTag, Uint8Array.of(now >>> 24, (now >>> 16) & 0xff, (now >>> 8) & 0xff, now & 0xff));
    const key = this.state.keys[slot];
    if (key === undefined) return;
    const fpTag = { sig: 0xc7, dec: 0xc8, aut: 0xc9 }[slot];
    doSet(this.state, fpTag, v4Fingerprint(slot, algorithmAttributes(this.state.algorithms[slot], slot), publicKeyTemplate(key), now));
  }

  // PUT DATA (3.4.1 §7.2.8): PW3 for everything we accept, PW1 (82) for the private DOs 0101/0103.
  private async putData(cmd: CommandApdu): Promise<Uint8Array> {
    const tag = (cmd.p1 << 8) | cmd.p2;
    const pw1Tags = new Set([0x0101, 0x0103]);
    if (pw1Tags.has(tag) ? !this.pw1Other : !this.pw3) throw new CardError(SW.SECURITY_STATUS_NOT_SATISFIED);
    const simple = new Set([0x5b, 0x5e, 0x5f2d, 0x5f35, 0x5f50, 0x0101, 0x0102, 0x0103, 0x0104, 0x7f21, 0xc7, 0xc8, 0xc9, 0xca, 0xcb, 0xcc, 0xce, 0xcf, 0xd0]);
    if (simple.has(tag)) {
      doSet(this.state, tag, cmd.data);
    } else if (tag === 0xc1 || tag === 0xc2 || tag === 0xc3) {
      const alg = algorithmFromAttributes(cmd.data);
      if (alg === undefined) throw new CardError(SW.WRONG_DATA);
      const slot: Slot = tag === 0xc1 ? 'sig' : tag === 0xc2 ? 'dec' : 'aut';
      if ((slot === 'dec') !== (alg === 'x25519' || cmd.data[0] === 0x12 || alg.startsWith('rsa'))) {
        if (!(alg.startsWith('rsa') || (slot !== 'dec' && cmd.data[0] !== 0x12))) throw new CardError(SW.WRONG_DATA);
      }
      if (this.state.algorithms[slot] !== alg) {
        this.state.algorithms[slot] = alg;
        delete this.state.keys[slot];
      }
    } else if (tag === 0xd6 || tag === 0xd7 || tag === 0xd8) {
      if (cmd.data.length !== 2) throw new CardError(SW.WRONG_LENGTH);
      doSet(this.state, tag, cmd.data);
    } else if (tag === 0xc4) {
      if (cmd.data.length < 1) throw new CardError(SW.WRONG_LENGTH);
      this.state.pw1ValidForMultipleSignatures = cmd.data[0] === 0x01;
    } else if (tag === 0xf9) {
      doSet(this.state, 0xf9, cmd.data);
    } else throw new CardError(SW.REFERENCED_DATA_NOT_FOUND);
    await this.persist();
    return new Uint8Array(0);
  }

  // PSO (3.4.1 §7.2.10 COMPUTE DIGITAL SIGNATURE 9E9A, PW1 81; §7.2.11 DECIPHER 8086, PW1 82).
  private async pso(cmd: CommandApdu): Promise<Uint8Array> {
    const op = (cmd.p1 << 8) | cmd.p2;
    if (op === 0x9e9a) {
      if (!this.pw1Sign) throw new CardError(SW.SECURITY_STATUS_NOT_SATISFIED);
      const sig = await this.useKey('sig', (k) => signWith(k, cmd.data));
      if (!this.state.pw1ValidForMultipleSignatures) this.pw1Sign = false;
      this.state.signatureCounter = (this.state.signatureCounter + 1) & 0xffffff;
      await this.persist();
      return sig;
    }
    if (op === 0x8086) {
      if (!this.pw1Other) throw new CardError(SW.SECURITY_STATUS_NOT_SATISFIED);
      let input = cmd.data;
      if (this.state.algorithms.dec.startsWith('rsa')) {
        if (input[0] !== 0x00) throw new CardError(SW.WRONG_DATA);
        input = input.subarray(1);
      } else {
        const a6 = parseTlvs(input).get(0xa6);
        const point = a6 === undefined ? undefined : parseTlvs(parseTlvs(a6).get(0x7f49) ?? new Uint8Array(0)).get(0x86);
        if (point === undefined) throw new CardError(SW.WRONG_DATA);
        input = point;
      }
      return this.useKey('dec', (k) => decipherWith(k, input));
    }
    throw new CardError(SW.INCORRECT_P1P2);
  }

  // INTERNAL AUTHENTICATE (3.4.1 §7.2.13): the authentication key signs the host's input; PW1 82.
  private async internalAuthenticate(cmd: CommandApdu): Promise<Uint8Array> {
    if (!this.pw1Other) throw new CardError(SW.SECURITY_STATUS_NOT_SATISFIED);
    if (cmd.data.length === 0) throw new CardError(SW.WRONG_LENGTH);
    return this.useKey('aut', (k) => signWith(k, cmd.data));
  }

  private async useKey(slot: Slot, op: (k: NonNullable<CardState['keys'][Slot]>) => Uint8Array): Promise<Uint8Array> {
    const key = this.state.keys[slot];
    if (key === undefined) throw new CardError(SW.REFERENCED_DATA_NOT_FOUND);
    if (doGet(this.state, UIF_TAG[slot])?.[0] !== undefined && doGet(this.state, UIF_TAG[slot])![0]! !== 0x00) await this.waitForTouch(slot);
    try {
      return op(key);
    } catch {
      throw new CardError(SW.WRONG_DATA);
    }
  }

  private waitForTouch(slot: Slot): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      const timeout = setTimeout(() => {
        this.touchWaiter = undefined;
        reject(new CardError(SW.SECURITY_ISSUE_UIF));
      }, this.opts.touchTimeoutMs ?? 15_000);
      this.touchWaiter = () => {
        clearTimeout(timeout);
        this.emit('touched', slot);
        resolve();
      };
      this.emit('touch-wanted', slot);
      if (this.opts.autoTouchMs !== undefined) setTimeout(() => this.touch(), this.opts.autoTouchMs);
    });
  }

  // TERMINATE DF (3.4.1 §7.2.16): allowed with PW3, or when PW3 is blocked.
  private async terminate(_cmd: CommandApdu): Promise<Uint8Array> {
    if (!this.pw3 && this.state.retries.pw3 !== 0) throw new CardError(SW.SECURITY_STATUS_NOT_SATISFIED);
    this.state.dos['terminated'] = '01';
    this.reset();
    await this.persist();
    return new Uint8Array(0);
  }

  // ACTIVATE FILE (3.4.1 §7.2.17): a terminated card comes back in factory state.
  private async activate(): Promise<Uint8Array> {
    const fresh = await VirtualCard.create({ ...this.opts, serial: this.state.serial, manufacturer: this.state.manufacturer });
    Object.assign(this.state, fresh.state);
    this.state.keys = {};
    this.reset();
    await this.persist();
    return new Uint8Array(0);
  }

  private async persist(): Promise<void> {
    if (this.path !== undefined) await saveState(this.path, this.state);
  }
}

const UIF_TAG: Record<Slot, number> = { sig: 0xd6, dec: 0xd7, aut: 0xd8 };
