import { constants, createHash, generateKeyPairSync, privateEncrypt, sign, verify } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { Iso7816Channel } from '../../../src/card/iso7816/channel.js';
import {
  computeDigitalSignature,
  getData,
  internalAuthenticate,
  readPublicKey,
  resetVerifyState,
  selectOpenPgp,
  verify as verifyPin,
  verifyState,
} from '../../../src/card/openpgp/commands.js';
import { authenticationInput, DIGEST_INFO_PREFIX } from '../../../src/card/openpgp/openpgp-card.js';
import { CardStatusError, PinBlockedError, PinIncorrectError, PinRejectedError } from '../../../src/errors.js';
import { ScriptedTransport } from '../iso7816/scripted-transport.js';

const hex = (b: Uint8Array): string => Buffer.from(b).toString('hex');
const msg = new TextEncoder().encode('data to be signed');

describe('OpenPGP commands: the APDUs they send', () => {
  it('SELECT, GET DATA, VERIFY, read public key, INTERNAL AUTHENTICATE, PSO:CDS (short mode)', async () => {
    const t = new ScriptedTransport(['9000', '6e009000', '9000', '7f4900' + '9000', 'aa9000', 'bb9000', '9000']);
    const ch = new Iso7816Channel(t);
    await selectOpenPgp(ch);
    await getData(ch, 0x6e);
    await verifyPin(ch, 0x82, new TextEncoder().encode('123456'));
    await readPublicKey(ch, 0xa4);
    await internalAuthenticate(ch, Uint8Array.of(1, 2, 3));
    await computeDigitalSignature(ch, Uint8Array.of(4, 5));
    await resetVerifyState(ch, 0x82);
    expect(t.got).toEqual([
      '00a4040006d2760001240100',
      '00ca006e00',
      '0020008206313233343536',
      '0047810002a40000',
      '008800000301020300',
      '002a9e9a02040500',
      '0020ff82',
    ]);
  });

  it('GET DATA of a two-byte tag puts it in P1 P2', async () => {
    const t = new ScriptedTransport(['9000']);
    await getData(new Iso7816Channel(t), 0x7f66);
    expect(t.got).toEqual(['00ca7f6600']);
  });

  it('VERIFY without data: 9000 verified, 63Cx tries left, 6983 blocked, other errors thrown; no PIN sent', async () => {
    const t = new ScriptedTransport(['9000', '63c2', '6983', '6a88']);
    const ch = new Iso7816Channel(t);
    expect(await verifyState(ch, 0x82)).toEqual({ verified: true });
    expect(await verifyState(ch, 0x82)).toEqual({ verified: false, retriesLeft: 2 });
    expect(await verifyState(ch, 0x81)).toEqual({ verified: false, retriesLeft: 0 });
    await expect(verifyState(ch, 0x82)).rejects.toMatchObject({ sw: 0x6a88 });
    expect(t.got).toEqual(['00200082', '00200082', '00200081', '00200082']);
  });

  it('VERIFY errors are typed', async () => {
    const ch = new Iso7816Channel(new ScriptedTransport(['63c1', '6983', '6982']));
    const pin = new TextEncoder().encode('1');
    await expect(verifyPin(ch, 0x82, pin)).rejects.toSatisfy((e) => e instanceof PinIncorrectError && e.retriesLeft === 1);
    await expect(verifyPin(ch, 0x82, pin)).rejects.toBeInstanceOf(PinBlockedError);
    await expect(verifyPin(ch, 0x82, pin)).rejects.toSatisfy((e) => e instanceof CardStatusError && e.sw === 0x6982);
  });

  it('VERIFY: 63C0 is the try that blocked the PIN; any other refusal is a rejected PIN, never retried as another error', async () => {
    const ch = new Iso7816Channel(new ScriptedTransport(['63c2', '63c0', '6983', '6982', '6a80', '6d00']));
    const pin = new TextEncoder().encode('1');
    const err = (): Promise<unknown> => verifyPin(ch, 0x81, pin).catch((e: unknown) => e);
    const wrong = await err();
    expect(wrong).toBeInstanceOf(PinIncorrectError);
    expect(wrong).toMatchObject({ sw: 0x63c2, retriesLeft: 2, message: 'VERIFY 81: wrong PIN, 2 tries left: status word 63C2' });
    const blocked = await err();
    expect(blocked).toBeInstanceOf(PinBlockedError);
    expect(blocked).toMatchObject({ sw: 0x63c0, retriesLeft: 0, message: 'VERIFY 81: wrong PIN, now blocked: status word 63C0' });
    expect(await err()).toMatchObject({ sw: 0x6983, retriesLeft: 0, message: 'VERIFY 81: PIN blocked: status word 6983' });
    for (const sw of [0x6982, 0x6a80, 0x6d00]) {
      const e = await err();
      // A PinRejectedError with no count: not SecurityStatusNotSatisfiedError, not ForeignApplicationError.
      expect(e).toBeInstanceOf(PinRejectedError);
      expect(e).not.toBeInstanceOf(PinIncorrectError);
      expect(e).not.toBeInstanceOf(PinBlockedError);
      expect((e as PinRejectedError).constructor).toBe(PinRejectedError);
      expect(e).toMatchObject({ sw, retriesLeft: undefined });
      expect((e as Error).message).toMatch(/^VERIFY 81: PIN not accepted \(/);
    }
  });
});

describe('INTERNAL AUTHENTICATE input (3.4.1 §7.2.13)', () => {
  it('RSA: DigestInfo for SHA-1/256/384/512, which node:crypto RSA PKCS#1 v1.5 signatures agree with', () => {
    const { publicKey, privateKey } = generateKeyPairSync('rsa', { modulusLength: 1024 });
    for (const h of ['sha1', 'sha256', 'sha384', 'sha512'] as const) {
      const input = authenticationInput({ kind: 'rsa', hash: h }, msg);
      const digest = createHash(h).update(msg).digest();
      expect(hex(input)).toBe(hex(DIGEST_INFO_PREFIX[h]) + digest.toString('hex'));
      // A raw RSA signature of the DigestInfo (what the card computes) is a valid PKCS#1 signature over msg.
      const raw = privateEncrypt({ key: privateKey, padding: constants.RSA_PKCS1_PADDING }, input);
      expect(verify(h, msg, publicKey, raw)).toBe(true);
      expect(hex(raw)).toBe(hex(sign(h, msg, privateKey)));
    }
  });

  it('ECDSA: the hash of the curve, whatever hash the caller names', () => {
    expect(hex(authenticationInput({ kind: 'ecdsa', curve: 'p256' }, msg))).toBe(createHash('sha256').update(msg).digest('hex'));
    expect(hex(authenticationInput({ kind: 'ecdsa', curve: 'p384' }, msg))).toBe(createHash('sha384').update(msg).digest('hex'));
    expect(hex(authenticationInput({ kind: 'ecdsa', curve: 'p521' }, msg))).toBe(createHash('sha512').update(msg).digest('hex'));
  });

  it('EdDSA: the message itself', () => {
    expect(hex(authenticationInput({ kind: 'eddsa' }, msg))).toBe(hex(msg));
  });
});
