import { describe, expect, it } from 'vitest';
import { sshKeyBlobOf, signPlanFor } from '../../src/agent/card-ssh.js';
import { OpenPgpCard } from '../../src/card/openpgp/openpgp-card.js';
import { PinBlockedError, PinIncorrectError, CardStatusError } from '../../src/errors.js';
import { Secret } from '../../src/secret.js';
import { InProcessTransport } from '../../src/simulator/in-process-transport.js';
import { VirtualCard, type VirtualCardOptions } from '../../src/simulator/virtual-card.js';
import { verifySshSignature } from '../../src/ssh/verify.js';

async function openCard(options: VirtualCardOptions): Promise<{ card: OpenPgpCard; t: InProcessTransport; v: VirtualCard }> {
  const v = await VirtualCard.create(options);
  const t = new InProcessTransport(v);
  return { card: await OpenPgpCard.open(t), t, v };
}

const MESSAGE = new TextEncoder().encode('session data to sign');

describe('host driver against the virtual card', () => {
  for (const algo of ['ed25519', 'p256', 'p384', 'p521', 'rsa2048'] as const) {
    it(`${algo}: reads the key, verifies PW1, and signs what SSH verifies, in one APDU per signature`, async () => {
      const { card, t, v } = await openCard({ authAlgorithm: algo });
      expect(card.ident).toBe(v.ident);
      const key = await card.readAuthPublicKey();
      const blob = sshKeyBlobOf(key);
      await expect(card.authenticate(MESSAGE, 'sha256')).rejects.toMatchObject({ sw: 0x6982 });
      await card.verifyPw1(new Secret('123456'));
      for (const flags of algo === 'rsa2048' ? [0, 2, 4] : [0]) {
        const plan = signPlanFor(key, flags);
        const before = t.apduCount;
        const raw = await card.authenticate(MESSAGE, plan.hash);
        expect(t.apduCount - before).toBe(1);
        expect(verifySshSignature(blob, MESSAGE, plan.toSshSignature(raw))).toBe(true);
        expect(verifySshSignature(blob, new TextEncoder().encode('other data'), plan.toSshSignature(raw))).toBe(false);
      }
    });
  }

  it('RSA 4096 signs too', async () => {
    const { card } = await openCard({ authAlgorithm: 'rsa4096' });
    const key = await card.readAuthPublicKey();
    expect(key.kind === 'rsa' && key.n.length).toBe(512);
    await card.verifyPw1(new Secret('123456'));
    const plan = signPlanFor(key, 4);
    expect(verifySshSignature(sshKeyBlobOf(key), MESSAGE, plan.toSshSignature(await card.authenticate(MESSAGE, plan.hash)))).toBe(true);
  });

  it('short-APDU card: long responses come through 61xx, long commands by chaining', async () => {
    const { card, v, t } = await openCard({ authAlgorithm: 'rsa2048', extendedLength: false });
    expect(card.applicationData.extendedLength).toBe(false);
    expect(card.channel.getLimits().extended).toBe(false);
    const before = t.apduCount;
    const key = await card.readAuthPublicKey(); // 7F49 of RSA 2048 is longer than 256 bytes
    expect(t.apduCount - before).toBe(2);
    expect(key.kind === 'rsa' && key.n.length).toBe(256);
    await card.verifyPw1(new Secret('123456'));
    const plan = signPlanFor(key, 4);
    expect(verifySshSignature(sshKeyBlobOf(key), MESSAGE, plan.toSshSignature(await card.authenticate(MESSAGE, plan.hash)))).toBe(true);
    // A 300-byte PUT DATA must be chained into pieces of at most 255 bytes.
    await card.channel.transceive({ ins: 0x20, p1: 0, p2: 0x83, data: new TextEncoder().encode('12345678') });
    const url = new Uint8Array(300).fill(0x61);
    const beforePut = t.apduCount;
    await card.channel.transceive({ ins: 0xda, p1: 0x5f, p2: 0x50, data: url });
    expect(t.apduCount - beforePut).toBe(2);
    expect(v.state.dos['5f50']).toBe(Buffer.from(url).toString('hex'));
  });

  it('KDF on: the driver derives the PIN and the card accepts it', async () => {
    const { card } = await openCard({ authAlgorithm: 'ed25519', kdf: true });
    expect(card.applicationData.kdfSupported).toBe(true);
    await card.verifyPw1(new Secret('123456'));
    const key = await card.readAuthPublicKey();
    const plan = signPlanFor(key, 0);
    expect(verifySshSignature(sshKeyBlobOf(key), MESSAGE, plan.toSshSignature(await card.authenticate(MESSAGE, plan.hash)))).toBe(true);
  });

  it('a wrong PIN counts down, the right one restores the counter, three wrong ones block', async () => {
    const { card } = await openCard({});
    await expect(card.verifyPw1(new Secret('000000'))).rejects.toSatisfy((e) => e instanceof PinIncorrectError && e.retriesLeft === 2);
    expect(await card.pw1Retries()).toBe(2);
    expect(await card.pw1VerifiedState()).toEqual({ verified: false, retriesLeft: 2 });
    await card.verifyPw1(new Secret('123456'));
    expect(await card.pw1Retries()).toBe(3);
    expect(await card.pw1VerifiedState()).toEqual({ verified: true });
    await card.resetPw1Status();
    expect(await card.pw1VerifiedState()).toEqual({ verified: false, retriesLeft: 3 });
    for (const left of [2, 1, 0]) {
      await expect(card.verifyPw1(new Secret('000000'))).rejects.toSatisfy((e) => e instanceof PinIncorrectError && e.retriesLeft === left);
    }
    await expect(card.verifyPw1(new Secret('123456'))).rejects.toBeInstanceOf(PinBlockedError);
  });

  it('after a card reset the application must be selected again', async () => {
    const { card, v } = await openCard({});
    v.reset();
    await expect(card.pw1Retries()).rejects.toBeInstanceOf(CardStatusError);
    await card.reselect();
    expect(await card.pw1Retries()).toBe(3);
  });

  it('a card without the key answers 6A88 and the driver says so', async () => {
    const v = await VirtualCard.create({});
    delete v.state.keys.aut;
    const card = await OpenPgpCard.open(new InProcessTransport(v));
    await expect(card.readAuthPublicKey()).rejects.toMatchObject({ sw: 0x6a88 });
  });
});
