import type { Iso7816Channel } from '../iso7816/channel.js';
import type { Command } from '../iso7816/command.js';
import { pinRejectedError, statusError, SW } from '../iso7816/status.js';

/** The OpenPGP application's AID prefix: RID D2 76 00 01 24, PIX application 01 (3.4.1 §4.2.1). */
export const OPENPGP_AID = Uint8Array.of(0xd2, 0x76, 0x00, 0x01, 0x24, 0x01);

/** Instruction bytes (OpenPGP card 3.4.1 §7.1). */
export const INS = {
  SELECT: 0xa4,
  GET_DATA: 0xca,
  VERIFY: 0x20,
  CHANGE_REFERENCE_DATA: 0x24,
  RESET_RETRY_COUNTER: 0x2c,
  GENERATE_ASYMMETRIC_KEY_PAIR: 0x47,
  INTERNAL_AUTHENTICATE: 0x88,
  PSO: 0x2a,
} as const;

/** Password references for VERIFY (3.4.1 §7.2.2): PW1 81 for PSO:CDS, PW1 82 for everything else, PW3 83. */
export const PW1_81 = 0x81;
export const PW1_82 = 0x82;
export const PW3_83 = 0x83;

/** Control reference templates naming a key (3.4.1 §7.2.14). */
export const CRT = {
  SIGNATURE: 0xb6,
  DECRYPTION: 0xb8,
  AUTHENTICATION: 0xa4,
} as const;

/** Data objects read with GET DATA (3.4.1 §4.4.1). */
export const DO = {
  APPLICATION_RELATED_DATA: 0x6e,
  PW_STATUS_BYTES: 0xc4,
  FINGERPRINTS: 0xc5,
  KDF: 0xf9,
  ALGORITHM_INFORMATION: 0xfa,
} as const;

// SELECT by DF name (3.4.1 §7.2.1), access: always. Le 00 as GnuPG and go-openpgp-card send it.
export async function selectOpenPgp(channel: Iso7816Channel): Promise<void> {
  await channel.transceive({ ins: INS.SELECT, p1: 0x04, p2: 0x00, data: OPENPGP_AID, le: 256 }, 'SELECT OpenPGP application');
}

// GET DATA (3.4.1 §7.2.6), access: always (for the objects this driver reads).
export async function getData(channel: Iso7816Channel, tag: number): Promise<Uint8Array> {
  return channel.transceive({ ins: INS.GET_DATA, p1: (tag >> 8) & 0xff, p2: tag & 0xff, le: 0 }, `GET DATA ${tag.toString(16).toUpperCase()}`);
}

// VERIFY with a PIN (3.4.1 §7.2.2), access: always; counts down the PIN's retries when wrong (63Cx).
// Any answer but 9000 is a rejection of that PIN: some cards answer a wrong PIN with 6982 (or a
// too-short one with 6A80) and may still count the try, so the caller must never resend it.
export async function verify(channel: Iso7816Channel, pwRef: number, pin: Uint8Array): Promise<void> {
  const what = `VERIFY ${pwRef.toString(16).toUpperCase()}`;
  const { sw } = await channel.transceiveRaw({ ins: INS.VERIFY, p1: 0x00, p2: pwRef, data: pin });
  if (sw !== SW.SUCCESS) throw pinRejectedError(what, sw);
}

export type VerifyState = { readonly verified: true } | { readonly verified: false; readonly retriesLeft: number };

// VERIFY without data (3.4.1 §7.2.2), access: always: 9000 = verified; 63Cx = not, x tries left. Sends no PIN.
export async function verifyState(channel: Iso7816Channel, pwRef: number): Promise<VerifyState> {
  const { sw } = await channel.transceiveRaw({ ins: INS.VERIFY, p1: 0x00, p2: pwRef });
  if (sw === SW.SUCCESS) return { verified: true };
  if ((sw & 0xfff0) === SW.VERIFY_FAILED) return { verified: false, retriesLeft: sw & 0x0f };
  if (sw === SW.AUTH_METHOD_BLOCKED) return { verified: false, retriesLeft: 0 };
  throw statusError(`VERIFY ${pwRef.toString(16).toUpperCase()} (state)`, sw);
}

// VERIFY with P1=FF (3.4.1 §7.2.2), access: always: the card forgets that the password was verified.
export async function resetVerifyState(channel: Iso7816Channel, pwRef: number): Promise<void> {
  await channel.transceive({ ins: INS.VERIFY, p1: 0xff, p2: pwRef }, `VERIFY ${pwRef.toString(16).toUpperCase()} (reset)`);
}

// GENERATE ASYMMETRIC KEY PAIR, P1=81 read mode (3.4.1 §7.2.14), access: always. Returns the 7F49 template.
export async function readPublicKey(channel: Iso7816Channel, crt: number): Promise<Uint8Array> {
  return channel.transceive({ ins: INS.GENERATE_ASYMMETRIC_KEY_PAIR, p1: 0x81, p2: 0x00, data: Uint8Array.of(crt, 0x00), le: 0 }, 'read public key');
}

// INTERNAL AUTHENTICATE (3.4.1 §7.2.13), access: PW1 82 verified. Signs `input` with the authentication key.
export async function internalAuthenticate(channel: Iso7816Channel, input: Uint8Array): Promise<Uint8Array> {
  return channel.transceive(internalAuthenticateCommand(input), 'INTERNAL AUTHENTICATE');
}

/** The INTERNAL AUTHENTICATE command for `input` (Le: as much as the card allows). */
export function internalAuthenticateCommand(input: Uint8Array): Command {
  return { ins: INS.INTERNAL_AUTHENTICATE, p1: 0x00, p2: 0x00, data: input, le: 0 };
}

// PSO: COMPUTE DIGITAL SIGNATURE (3.4.1 §7.2.10), access: PW1 81 verified. Signs `input` with the signature key.
export async function computeDigitalSignature(channel: Iso7816Channel, input: Uint8Array): Promise<Uint8Array> {
  return channel.transceive({ ins: INS.PSO, p1: 0x9e, p2: 0x9a, data: input, le: 0 }, 'PSO: COMPUTE DIGITAL SIGNATURE');
}
