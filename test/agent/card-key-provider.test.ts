import pino from 'pino';
import { describe, expect, it } from 'vitest';
import { CardKeyProvider } from '../../src/agent/card-key-provider.js';
import { CardRegistry } from '../../src/agent/card-registry.js';
import type { RequestContext } from '../../src/agent/key-provider.js';
import { AgentError, PinBlockedError, PinIncorrectError, PinRequiredError } from '../../src/errors.js';
import { SessionPins } from '../../src/pins/session-pins.js';
import { Secret } from '../../src/secret.js';
import { InProcessTransport } from '../../src/simulator/in-process-transport.js';
import { VirtualCard } from '../../src/simulator/virtual-card.js';
import { verifySshSignature } from '../../src/ssh/verify.js';

const silent = pino({ level: 'silent' });
const ctx = { conn: { id: 1, log: silent }, sessions: [] } as unknown as RequestContext;
const DATA = new TextEncoder().encode('to be signed');

class Notes {
  readonly seen: { title: string; message: string }[] = [];
  notify(n: { title: string; message: string }): void {
    this.seen.push(n);
  }
}

async function setup(opts: { pin?: string; algo?: 'ed25519' | 'rsa2048' | 'p256'; card?: Parameters<typeof VirtualCard.create>[0]; touchPromptAfterMs?: number } = {}) {
  const card = await VirtualCard.create({ authAlgorithm: opts.algo ?? 'ed25519', ...opts.card });
  const transport = new InProcessTransport(card);
  const registry = new CardRegistry(silent);
  const entry = await registry.attach('reader 0', transport);
  const pins = new SessionPins();
  if (opts.pin !== undefined) await pins.remember(entry.ident, new Secret(opts.pin), undefined);
  const notes = new Notes();
  const provider = new CardKeyProvider({ registry, pins, log: silent, notifier: notes, ...(opts.touchPromptAfterMs === undefined ? {} : { touchPromptAfterMs: opts.touchPromptAfterMs }) });
  return { card, transport, registry, entry, pins, provider, notes };
}

describe('CardKeyProvider', () => {
  it('lists the card key with its ident as comment, without talking to the card', async () => {
    const { provider, entry, transport } = await setup();
    const before = transport.apduCount;
    const ids = await provider.listIdentities(ctx);
    expect(ids).toEqual([{ keyBlob: entry.keyBlob, comment: entry.ident, ident: entry.ident }]);
    expect(transport.apduCount).toBe(before);
  });

  it('signs: first signature verifies the PIN once, every later one is a single APDU', async () => {
    const { provider, entry, transport } = await setup({ pin: '123456' });
    const before = transport.apduCount;
    const first = await provider.sign(entry.keyBlob!, DATA, 0, ctx);
    // INTERNAL AUTHENTICATE (6982), GET DATA C4 (retries), GET DATA F9 (KDF, read once), VERIFY, INTERNAL AUTHENTICATE.
    expect(transport.apduCount - before).toBe(5);
    expect(verifySshSignature(entry.keyBlob!, DATA, first!)).toBe(true);
    for (let i = 0; i < 5; i++) {
      const n = transport.apduCount;
      const sig = await provider.sign(entry.keyBlob!, DATA, 0, ctx);
      expect(transport.apduCount - n).toBe(1);
      expect(verifySshSignature(entry.keyBlob!, DATA, sig!)).toBe(true);
    }
  });

  it('answers null for a key that is not on any card', async () => {
    const { provider } = await setup({ pin: '123456' });
    expect(await provider.sign(new Uint8Array([0, 0, 0, 1, 0x61]), DATA, 0, ctx)).toBeNull();
  });

  it('with no PIN stored, fails and tells the exact ssh-add command', async () => {
    const { provider, entry, notes, card } = await setup();
    await expect(provider.sign(entry.keyBlob!, DATA, 0, ctx)).rejects.toBeInstanceOf(PinRequiredError);
    expect(notes.seen.at(-1)?.message).toContain(`ssh-add -s ${entry.ident}`);
    expect(card.state.retries.pw1).toBe(3);
  });

  it('a wrong stored PIN costs exactly one try, ever', async () => {
    const { provider, entry, card, notes } = await setup({ pin: '999999' });
    for (let i = 0; i < 20; i++) {
      await expect(provider.sign(entry.keyBlob!, DATA, 0, ctx)).rejects.toBeInstanceOf(AgentError);
    }
    expect(card.state.retries.pw1).toBe(2);
    expect(notes.seen.some((n) => n.title === 'Wrong PIN' && /2 tries left/.test(n.message))).toBe(true);
  });

  it('never sends a stored PIN when only one try is left', async () => {
    const { provider, entry, card } = await setup({ pin: '123456' });
    card.state.retries.pw1 = 1;
    await expect(provider.sign(entry.keyBlob!, DATA, 0, ctx)).rejects.toThrow(/1 PIN try left/);
    expect(card.state.retries.pw1).toBe(1);
    // A PIN the user types now may use it.
    await provider.addSmartcardKey(entry.ident, new Secret('123456'), [], ctx);
    expect(card.state.retries.pw1).toBe(3);
    expect(await provider.sign(entry.keyBlob!, DATA, 0, ctx)).not.toBeNull();
  });

  it('a blocked card is reported with the ways to unblock it', async () => {
    const { provider, entry, card, notes } = await setup({ pin: '123456' });
    card.state.retries.pw1 = 0;
    await expect(provider.sign(entry.keyBlob!, DATA, 0, ctx)).rejects.toBeInstanceOf(PinBlockedError);
    expect(notes.seen.at(-1)?.message).toMatch(/Reset Code.*Admin PIN/);
  });

  it('ssh-add -s checks the PIN on the card before keeping it; a wrong one is not kept', async () => {
    const { provider, entry, pins, card } = await setup();
    await expect(provider.addSmartcardKey(entry.ident.toLowerCase(), new Secret('000000'), [], ctx)).rejects.toSatisfy(
      (e) => e instanceof PinIncorrectError && e.retriesLeft === 2,
    );
    expect(await pins.get(entry.ident)).toBeUndefined();
    await provider.addSmartcardKey(entry.ident, new Secret('123456'), [], ctx);
    expect((await pins.get(entry.ident))?.revealString()).toBe('123456');
    expect(card.state.retries.pw1).toBe(3);
  });

  it('ssh-add -s with an unknown ident names the plugged cards', async () => {
    const { provider, entry } = await setup();
    await expect(provider.addSmartcardKey('0006:00000000', new Secret('123456'), [], ctx)).rejects.toThrow(entry.ident);
  });

  it('ssh-add -s -t keeps the PIN for its lifetime only', async () => {
    const { provider, entry, pins } = await setup();
    await provider.addSmartcardKey(entry.ident, new Secret('123456'), [{ kind: 'lifetime', seconds: 0.05 }], ctx);
    expect(await pins.get(entry.ident)).toBeDefined();
    await new Promise((r) => setTimeout(r, 120));
    expect(await pins.get(entry.ident)).toBeUndefined();
  });

  it('ssh-add -e forgets the PIN and makes the card ask for it again', async () => {
    const { provider, entry, pins } = await setup({ pin: '123456' });
    expect(await provider.sign(entry.keyBlob!, DATA, 0, ctx)).not.toBeNull();
    await provider.removeSmartcardKey(entry.ident, new Secret(''), ctx);
    expect(await pins.get(entry.ident)).toBeUndefined();
    await expect(provider.sign(entry.keyBlob!, DATA, 0, ctx)).rejects.toBeInstanceOf(PinRequiredError);
  });

  it('-c asks before every signature and refuses when the user says no', async () => {
    const { registry, pins, entry } = await setup();
    const answers = [true, false];
    const asked: string[] = [];
    const provider = new CardKeyProvider({
      registry,
      pins,
      log: silent,
      confirm: async (m) => {
        asked.push(m);
        return answers.shift() ?? false;
      },
    });
    await provider.addSmartcardKey(entry.ident, new Secret('123456'), [{ kind: 'confirm' }], ctx);
    expect(await provider.sign(entry.keyBlob!, DATA, 0, ctx)).not.toBeNull();
    await expect(provider.sign(entry.keyBlob!, DATA, 0, ctx)).rejects.toThrow(/not confirmed/);
    expect(asked).toHaveLength(2);
    expect(asked[0]).toContain(entry.ident);
  });

  it('a card pulled out mid-signature fails that request; signing works again once it is back', async () => {
    const { provider, entry, transport } = await setup({ pin: '123456' });
    transport.remove();
    await expect(provider.sign(entry.keyBlob!, DATA, 0, ctx)).rejects.toThrow(/removed/);
    transport.reinsert();
    await entry.card.reselect();
    expect(await provider.sign(entry.keyBlob!, DATA, 0, ctx)).not.toBeNull();
  });

  it('a card waiting for a touch gets a "Touch your card" notification; a quick one does not', async () => {
    const slow = await setup({ pin: '123456', card: { touch: { aut: true }, autoTouchMs: 400 }, touchPromptAfterMs: 100 });
    await slow.provider.sign(slow.entry.keyBlob!, DATA, 0, ctx); // verifies the PIN first
    const touches = (): number => slow.notes.seen.filter((n) => n.message === `Touch your card ${slow.entry.ident}`).length;
    expect(touches()).toBe(1);
    const quick = await setup({ pin: '123456', touchPromptAfterMs: 100 });
    await quick.provider.sign(quick.entry.keyBlob!, DATA, 0, ctx);
    expect(quick.notes.seen.filter((n) => n.title === 'Touch your card')).toEqual([]);
  });

  it('no touch in time fails that request with a clear error', async () => {
    const { provider, entry } = await setup({ pin: '123456', card: { touch: { aut: true }, touchTimeoutMs: 150 }, touchPromptAfterMs: 50 });
    await expect(provider.sign(entry.keyBlob!, DATA, 0, ctx)).rejects.toThrow(/not touched in time/);
  });

  it('RSA honours the SHA-2 flags', async () => {
    const { provider, entry } = await setup({ pin: '123456', algo: 'rsa2048' });
    for (const [flags, alg] of [[0, 'ssh-rsa'], [2, 'rsa-sha2-256'], [4, 'rsa-sha2-512']] as const) {
      const sig = (await provider.sign(entry.keyBlob!, DATA, flags, ctx))!;
      expect(new TextDecoder().decode(sig.subarray(4, 4 + alg.length))).toBe(alg);
      expect(verifySshSignature(entry.keyBlob!, DATA, sig)).toBe(true);
    }
  });
});
