import { WireFormatError } from '../../errors.js';
import { findTlv, parseTlv, type Tlv } from '../iso7816/tlv.js';
import { parseAlgorithmAttributes, type AlgorithmAttributes } from './public-key.js';

/** Application identifier (4F), OpenPGP card 3.4.1 §4.2.1. */
export interface Aid {
  readonly raw: Uint8Array;
  readonly version: string;
  readonly manufacturer: number;
  readonly serial: number;
  /** "MMMM:SSSSSSSS", uppercase hex: how ssh-add -L and openpgp-card-state name the card. */
  readonly ident: string;
}

/** PW status bytes (C4), 3.4.1 §4.4.1. */
export interface PwStatus {
  readonly pw1ValidForMultipleSignatures: boolean;
  readonly maxLengthPw1: number;
  readonly maxLengthRc: number;
  readonly maxLengthPw3: number;
  readonly retriesPw1: number;
  readonly retriesRc: number;
  readonly retriesPw3: number;
}

/** Extended capabilities (C0), 3.4.1 §4.4.3.7. */
export interface ExtendedCapabilities {
  readonly secureMessaging: boolean;
  readonly getChallenge: boolean;
  readonly keyImport: boolean;
  readonly pwStatusChangeable: boolean;
  readonly privateDos: boolean;
  readonly algorithmAttributesChangeable: boolean;
  readonly aes: boolean;
  readonly kdf: boolean;
  readonly smAlgorithm: number;
  readonly maxChallenge: number;
  readonly maxCertificate: number;
  readonly maxSpecialDo: number;
  readonly pinBlock2: boolean;
  readonly mseForKeyRef: boolean;
}

export function parseExtendedCapabilities(b: Uint8Array): ExtendedCapabilities {
  if (b.length < 1) throw new WireFormatError('empty extended capabilities (C0)', 0);
  const f = b[0]!;
  const u16 = (i: number): number => (b.length >= i + 2 ? (b[i]! << 8) | b[i + 1]! : 0);
  return {
    secureMessaging: (f & 0x80) !== 0,
    getChallenge: (f & 0x40) !== 0,
    keyImport: (f & 0x20) !== 0,
    pwStatusChangeable: (f & 0x10) !== 0,
    privateDos: (f & 0x08) !== 0,
    algorithmAttributesChangeable: (f & 0x04) !== 0,
    aes: (f & 0x02) !== 0,
    kdf: (f & 0x01) !== 0,
    smAlgorithm: b[1] ?? 0,
    maxChallenge: u16(2),
    maxCertificate: u16(4),
    maxSpecialDo: u16(6),
    pinBlock2: b[8] === 0x01,
    mseForKeyRef: b[9] === 0x01,
  };
}

export type TouchPolicy = 'off' | 'on' | 'fixed' | 'cached' | 'cached-fixed' | 'unknown';

/** Application related data (6E), parsed. */
export interface ApplicationData {
  readonly aid: Aid;
  readonly historicalBytes: Uint8Array | undefined;
  /** From 7F66, when the card has extended length. */
  readonly maxCommandBytes: number | undefined;
  readonly maxResponseBytes: number | undefined;
  /** Extended capabilities (C0), when the card has them. */
  readonly extendedCapabilities: ExtendedCapabilities | undefined;
  /** C0 says the card has a KDF-DO (F9): read it before sending a PIN. */
  readonly kdfSupported: boolean;
  readonly extendedLength: boolean;
  readonly commandChaining: boolean;
  readonly algorithms: { readonly sig: AlgorithmAttributes | undefined; readonly dec: AlgorithmAttributes | undefined; readonly aut: AlgorithmAttributes | undefined };
  readonly pwStatus: PwStatus | undefined;
  readonly fingerprints: { readonly sig: Uint8Array; readonly dec: Uint8Array; readonly aut: Uint8Array } | undefined;
  readonly touch: { readonly sig: TouchPolicy; readonly dec: TouchPolicy; readonly aut: TouchPolicy };
  /** Key generation times (CD: CE–D0), seconds since 1970; 0 for a key whose time is missing or was never written. */
  readonly generationTimes: { readonly sig: number; readonly dec: number; readonly aut: number };
}

export function parseAid(b: Uint8Array): Aid {
  if (b.length < 14) throw new WireFormatError(`AID of ${b.length} bytes is too short`, 0);
  const manufacturer = (b[8]! << 8) | b[9]!;
  const serial = ((b[10]! << 24) | (b[11]! << 16) | (b[12]! << 8) | b[13]!) >>> 0;
  const ident = `${manufacturer.toString(16).padStart(4, '0')}:${serial.toString(16).padStart(8, '0')}`.toUpperCase();
  return { raw: Uint8Array.from(b), version: `${b[6]}.${b[7]}`, manufacturer, serial, ident };
}

export function parsePwStatus(b: Uint8Array): PwStatus {
  if (b.length < 7) throw new WireFormatError(`PW status of ${b.length} bytes`, 0);
  return {
    pw1ValidForMultipleSignatures: b[0] === 0x01,
    maxLengthPw1: b[1]!,
    maxLengthRc: b[2]!,
    maxLengthPw3: b[3]!,
    retriesPw1: b[4]!,
    retriesRc: b[5]!,
    retriesPw3: b[6]!,
  };
}

/** UIF (D6–D8) first byte, 3.4.1 §4.4.3.6; 03/04 are YubiKey's cached policies. */
export function parseTouchPolicy(b: Uint8Array | undefined): TouchPolicy {
  if (b === undefined || b.length === 0) return 'off';
  return (['off', 'on', 'fixed', 'cached', 'cached-fixed'] as const)[b[0]!] ?? 'unknown';
}

/**
 * Parses 6E. Real cards differ: some omit the 73 wrapper (older YubiKeys put C0…DE at the top
 * level), some lack 7F66; we search for each object wherever it is.
 */
export function parseApplicationData(resp: Uint8Array): ApplicationData {
  const objs: Tlv[] = parseTlv(resp);
  const get = (tag: number): Uint8Array | undefined => findTlv(objs, tag)?.value;
  const aidBytes = get(0x4f);
  if (aidBytes === undefined) throw new WireFormatError('application related data has no AID (4F)', 0);
  const hist = get(0x5f52);
  const c0 = get(0xc0);
  const caps = c0 === undefined || c0.length === 0 ? undefined : parseExtendedCapabilities(c0);
  // Card capabilities in the historical bytes: tag 73, third byte: b8 chaining, b7 extended Lc/Le.
  const cardCaps = hist === undefined ? undefined : findCapabilities(hist);
  const ext = findTlv(objs, 0x7f66);
  let maxCommandBytes: number | undefined;
  let maxResponseBytes: number | undefined;
  if (ext !== undefined) {
    const lengths = ext.children.filter((c) => c.tag === 0x02).map((c) => c.value.reduce((n, b) => n * 256 + b, 0));
    maxCommandBytes = lengths[0];
    maxResponseBytes = lengths[1];
  } else if (aidBytes.length > 6 && aidBytes[6]! < 3 && c0 !== undefined && c0.length >= 10) {
    // Version 2.x cards have no 7F66: C0 bytes 7–10 are the maximum command and response data
    // lengths (2.0.1 §4.4, as GnuPG reads them); 3.x reused those bytes for other limits.
    maxCommandBytes = (c0[6]! << 8) | c0[7]!;
    maxResponseBytes = (c0[8]! << 8) | c0[9]!;
  }
  // C5: three 20-byte fingerprints (sig, dec, aut); the YubiKey adds a fourth (attestation).
  const fps = get(0xc5);
  const attr = (tag: number): AlgorithmAttributes | undefined => {
    const v = get(tag);
    return v === undefined || v.length === 0 ? undefined : parseAlgorithmAttributes(v);
  };
  const pw = get(0xc4);
  return {
    aid: parseAid(aidBytes),
    historicalBytes: hist === undefined ? undefined : Uint8Array.from(hist),
    maxCommandBytes,
    maxResponseBytes,
    extendedCapabilities: caps,
    kdfSupported: caps?.kdf ?? false,
    extendedLength: ext !== undefined || (cardCaps !== undefined && (cardCaps & 0x40) !== 0),
    commandChaining: cardCaps !== undefined && (cardCaps & 0x80) !== 0,
    algorithms: { sig: attr(0xc1), dec: attr(0xc2), aut: attr(0xc3) },
    pwStatus: pw === undefined ? undefined : parsePwStatus(pw),
    fingerprints:
      fps === undefined || fps.length < 60 /* a card that cuts C5 short has no usable fingerprints */
        ? undefined
        : { sig: Uint8Array.from(fps.subarray(0, 20)), dec: Uint8Array.from(fps.subarray(20, 40)), aut: Uint8Array.from(fps.subarray(40, 60)) },
    touch: { sig: parseTouchPolicy(get(0xd6)), dec: parseTouchPolicy(get(0xd7)), aut: parseTouchPolicy(get(0xd8)) },
    generationTimes: parseGenerationTimes(get(0xcd)),
  };
}

/** CD (3.4.1 §4.4.1): three 4-byte big-endian times (sig, dec, aut); a time the card cuts short is 0. */
function parseGenerationTimes(cd: Uint8Array | undefined): { sig: number; dec: number; aut: number } {
  const at = (i: number): number => (cd !== undefined && cd.length >= i + 4 ? ((cd[i]! << 24) | (cd[i + 1]! << 16) | (cd[i + 2]! << 8) | cd[i + 3]!) >>> 0 : 0);
  return { sig: at(0), dec: at(4), aut: at(8) };
}

/** The third byte of the card capabilities (compact-TLV 73) in the historical bytes. */
function findCapabilities(hist: Uint8Array): number | undefined {
  // Category indicator 00: compact-TLV objects follow, the last three bytes are status.
  let i = hist[0] === 0x00 ? 1 : 0;
  const end = hist[0] === 0x00 ? hist.length - 3 : hist.length;
  while (i < end) {
    const tl = hist[i]!;
    const tag = tl >> 4;
    const len = tl & 0x0f;
    if (tag === 0x7 && len >= 3) return hist[i + 3];
    i += 1 + len;
  }
  return undefined;
}
