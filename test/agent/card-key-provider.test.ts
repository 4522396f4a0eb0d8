import pino from 'pino';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { CardKeyProvider, StaleKeyError } from '../../src/agent/card-key-provider.js';
import { CardManager } from '../../src/agent/card-manager.js';
import { sshUnusableReason } from '../../src/agent/card-ssh.js';
import type { RequestContext } from '../../src/agent/key-provider.js';
import { CardLimitError, KdfUnavailableError, PinFormatError } from '../../src/card/openpgp/openpgp-card.js';
import { AgentError, PinBlockedError, PinIncorrectError, PinRejectedError, PinRequiredError } from '../../src/errors.js';
import { TestPins } from './test-pins.js';
import { ask, makeAgent, makeConn } from './helpers.js';
import type { PinAnswer, PinPrompt, PinRequest } from '../../src/notify/pin-prompt.js';
import { Secret } from '../../src/secret.js';
import { VirtualCard } from '../../src/simulator/virtual-card.js';
import { verifySshSignature } from '../../src/ssh/verify.js';
import { FakePcscTransport } from '../card/fake-pcsc-transport.js';

const silent = pino({ level: 'silent' });
const ctx = { conn: { id: 1, log: silent }, sessions: [] } as unknown as RequestContext;
const DATA = new TextEncoder().encode('to be signed');
const ADMIN_VERIFY = Uint8Array.from(Buffer.from('0020008308' + Buffer.from('12345678').toString('hex'), 'hex'));
const GENERATE_AUT = Uint8Array.from(Buffer.from('0047800002a40000', 'hex'));

class Notes {
  readonly seen: { title: string; message: string }[] = [];
  notify(n: { title: string; message: string }): void {
    this.seen.push(n);
  }
}

interface SetupOptions {
  pin?: string;
  algo?: 'ed25519' | 'rsa2048' | 'p256';
  card?: Parameters<typeof VirtualCard.create>[0];
  idleLockMs?: number;
  confirm?: (message: string) => Promise<boolean>;
  confirmUnavailable?: () => string | undefined;
  prompt?: PinPrompt;
  pins?: TestPins;
}

async function setup(opts: SetupOptions = {}) {
  const card = await VirtualCard.create({ authAlgorithm: opts.algo ?? 'ed25519', ...opts.card });
  const transport = new FakePcscTransport(card);
  const cards = new CardManager({ log: silent });
  const pins = opts.pins ?? new TestPins();
  const notes = new Notes();
  const provider = new CardKeyProvider({
    cards,
    pins,
    log: silent,
    notifier: notes,
    idleLockMs: opts.idleLockMs ?? 60_000,
    listDeadlineMs: 10_000,
    ...(opts.confirm === undefined ? {} : { confirm: opts.confirm }),
    ...(opts.confirmUnavailable === undefined ? {} : { confirmUnavailable: opts.confirmUnavailable }),
    ...(opts.prompt === undefined ? {} : { prompt: opts.prompt }),
  });
  const session = (await cards.attach('reader 0', async () => transport))!;
  if (opts.pin !== undefined) await pins.keep(session.ident, new Secret(opts.pin), undefined);
  const blob = (): Uint8Array => provider.view(session).keyBlob!;
  return { card, transport, cards, session, pins, provider, notes, blob };
}

afterEach(() => {
  vi.useRealTimers();
});

describe('CardKeyProvider: listing and signing', () => {
  it('lists the card key with its ident as comment, without talking to the card while it is fresh', async () => {
    const { provider, session, transport, blob } = await setup();
    const before = transport.apduCount;
    const ids = await provider.listIdentities(ctx);
    expect(ids).toEqual([{ keyBlob: blob(), comment: session.ident, ident: session.ident }]);
    expect(transport.apduCount).toBe(before);
  });

  it('first signature: C4, F9 (once), VERIFY, INTERNAL AUTHENTICATE after the 6982; every later one is one APDU in one transaction', async () => {
    const { provider, transport, blob } = await setup({ pin: '123456' });
    const mark = transport.log.length;
    const first = await provider.sign(blob(), DATA, 0, ctx);
    expect(transport.apdusSince(mark).map((a) => a.slice(0, 8))).toEqual(['00880000', '00ca00c4', '00ca00f9', '00200082', '00880000']);
    expect(verifySshSignature(blob(), DATA, first!)).toBe(true);
    for (let i = 0; i < 5; i++) {
      const m = transport.log.length;
      const sig = await provider.sign(blob(), DATA, 0, ctx);
      // Back to back, the signatures even share one PC/SC transaction (it lingers a moment).
      expect(transport.log.slice(m).filter((l) => l !== 'begin' && l !== 'end')).toEqual([expect.stringMatching(/^> 00880000/)]);
      expect(verifySshSignature(blob(), DATA, sig!)).toBe(true);
    }
  });

  it('through the agent, a signature long after the last listing is still one APDU (finding the card asks nothing of it)', async () => {
    vi.useFakeTimers({ toFake: ['Date'] });
    const { provider, blob, transport } = await setup({ pin: '123456' });
    const { agent } = makeAgent({ keys: provider });
    const conn = makeConn();
    expect((await ask(agent, conn, { type: 'sign-request', keyBlob: blob(), data: DATA, flags: 0 })).type).toBe('sign-response');
    vi.setSystemTime(Date.now() + 60_000);
    const mark = transport.log.length;
    expect((await ask(agent, conn, { type: 'sign-request', keyBlob: blob(), data: DATA, flags: 0 })).type).toBe('sign-response');
    expect(transport.apdusSince(mark).map((a) => a.slice(0, 8))).toEqual(['00880000']);
  });

  it('answers null for a key that is not on any card', async () => {
    const { provider } = await setup({ pin: '123456' });
    expect(await provider.sign(new Uint8Array([0, 0, 0, 1, 0x61]), DATA, 0, ctx)).toBeNull();
  });

  it('RSA honours the SHA-2 flags', async () => {
    const { provider, blob } = await setup({ pin: '123456', algo: 'rsa2048' });
    for (const [flags, alg] of [[0, 'ssh-rsa'], [2, 'rsa-sha2-256'], [4, 'rsa-sha2-512']] as const) {
      const sig = (await provider.sign(blob(), DATA, flags, ctx))!;
      expect(new TextDecoder().decode(sig.subarray(4, 4 + alg.length))).toBe(alg);
      expect(verifySshSignature(blob(), DATA, sig)).toBe(true);
    }
  });

  it('signatures waiting for the card together go to it in one series: one PC/SC call, one APDU each', async () => {
    const { provider, blob, transport } = await setup({ pin: '123456' });
    await provider.sign(blob(), DATA, 0, ctx);
    const mark = transport.log.length;
    const messages = [1, 2, 3, 4].map((i) => new Uint8Array(32).fill(i));
    const sigs = await Promise.all(messages.map((m) => provider.sign(blob(), m, 0, ctx)));
    sigs.forEach((sig, i) => expect(verifySshSignature(blob(), messages[i]!, sig!)).toBe(true));
    expect(transport.log.slice(mark).filter((l) => l !== 'begin' && l !== 'end')).toEqual(['series 4', ...messages.map(() => expect.stringMatching(/^> 00880000/))]);
  });

  it('a series the card stops with 6982: the PIN is verified once and the rest signed', async () => {
    const { provider, blob, transport, card } = await setup({ pin: '123456' });
    await provider.sign(blob(), DATA, 0, ctx);
    // The card forgets its PIN behind our back (another program's VERIFY reset, say).
    await card.process(Uint8Array.from(Buffer.from('0020ff82', 'hex')));
    const mark = transport.log.length;
    const sigs = await Promise.all([1, 2, 3].map((i) => provider.sign(blob(), new Uint8Array(8).fill(i), 0, ctx)));
    sigs.forEach((sig, i) => expect(verifySshSignature(blob(), new Uint8Array(8).fill(i + 1), sig!)).toBe(true));
    expect(transport.apdusSince(mark).map((a) => a.slice(0, 8))).toEqual(['00880000', '00ca00c4', '00200082', '00880000', '00880000', '00880000']);
  });

  it('in a series, a signature the card cannot take fails alone, before anything is sent for it', async () => {
    const { provider, blob, transport } = await setup({ pin: '123456' });
    await provider.sign(blob(), DATA, 0, ctx);
    const mark = transport.log.length;
    const [a, b, c] = await Promise.allSettled([provider.sign(blob(), DATA, 0, ctx), provider.sign(blob(), new Uint8Array(2040), 0, ctx), provider.sign(blob(), DATA, 0, ctx)]);
    expect(a.status === 'fulfilled' && verifySshSignature(blob(), DATA, a.value!)).toBe(true);
    expect(b.status === 'rejected' && b.reason).toBeInstanceOf(CardLimitError);
    expect(c.status === 'fulfilled' && verifySshSignature(blob(), DATA, c.value!)).toBe(true);
    expect(transport.apdusSince(mark)).toHaveLength(2);
  });

  it('refuses input the card cannot take before it reaches the card', async () => {
    const { provider, transport, blob } = await setup({ pin: '123456' });
    await provider.sign(blob(), DATA, 0, ctx);
    const mark = transport.log.length;
    // The virtual card says 0800 bytes per command APDU (7F66): 2039 bytes of data fit, 2040 do not.
    await expect(provider.sign(blob(), new Uint8Array(2040), 0, ctx)).rejects.toBeInstanceOf(CardLimitError);
    expect(transport.apdusSince(mark)).toEqual([]);
    expect(await provider.sign(blob(), new Uint8Array(2039), 0, ctx)).not.toBeNull();
    await expect(provider.sign(blob(), new Uint8Array(65_527), 0, ctx)).rejects.toThrow(/at most 2039/);
  });
});

describe('CardKeyProvider: the OpenPGP keys (for certificates and PSO:CDS)', () => {
  it("are read with one key read per slot: the card session's application data (6E) is not asked for again", async () => {
    const { provider, transport, card } = await setup();
    const mark = transport.log.length;
    const keys = await provider.listSignatureKeys(ctx);
    // GENERATE ASYMMETRIC KEY PAIR, read mode (81), for B6, B8 and A4; no GET DATA 6E.
    expect(transport.apdusSince(mark).map((a) => a.slice(0, 14))).toEqual(['00478100000002', '00478100000002', '00478100000002']);
    // What 6E says of each key still arrives: the stored fingerprints and generation times.
    expect(keys.map((k) => [k.slot, Buffer.from(k.fingerprint).toString('hex'), k.created])).toEqual([
      ['signature', card.state.dos.c7, parseInt(card.state.dos.ce!, 16)],
      ['decryption', card.state.dos.c8, parseInt(card.state.dos.cf!, 16)],
      ['authentication', card.state.dos.c9, parseInt(card.state.dos.d0!, 16)],
    ]);
    // Read once per read of the card.
    const again = transport.log.length;
    await provider.listSignatureKeys(ctx);
    expect(transport.apdusSince(again)).toEqual([]);
  });
});

describe('CardKeyProvider: never a stale key', () => {
  it('a key regenerated on the plugged card: the signature by it is not returned, the listing shows the new key', async () => {
    const { provider, card, session, blob } = await setup({ pin: '123456', idleLockMs: 60_000 });
    const old = blob();
    expect(await provider.sign(old, DATA, 0, ctx)).not.toBeNull();
    await card.process(ADMIN_VERIFY);
    await card.process(GENERATE_AUT);
    await expect(provider.sign(old, DATA, 0, ctx)).rejects.toBeInstanceOf(StaleKeyError);
    const ids = await provider.listIdentities(ctx);
    expect(ids).toHaveLength(1);
    expect(ids[0]!.keyBlob).not.toEqual(old);
    expect(ids[0]!.comment).toBe(session.ident);
    const sig = await provider.sign(ids[0]!.keyBlob, DATA, 0, ctx);
    expect(verifySshSignature(ids[0]!.keyBlob, DATA, sig!)).toBe(true);
  });

  it('a listing a while after a regeneration shows the new key at once (one GET DATA C5 while fresh keys cost nothing)', async () => {
    vi.useFakeTimers({ toFake: ['Date'] });
    const { provider, card, blob, transport } = await setup({ pin: '123456' });
    const old = blob();
    await card.process(ADMIN_VERIFY);
    await card.process(GENERATE_AUT);
    vi.setSystemTime(Date.now() + 2000);
    const mark = transport.log.length;
    const ids = await provider.listIdentities(ctx);
    expect(ids[0]!.keyBlob).not.toEqual(old);
    expect(transport.apdusSince(mark)[0]!.startsWith('00ca00c5')).toBe(true);
  });

  it('a card with no authentication key is read again when listed, and offers the key generated since', async () => {
    vi.useFakeTimers({ toFake: ['Date'] });
    const card = await VirtualCard.create({ authAlgorithm: 'ed25519' });
    delete card.state.keys.aut;
    const transport = new FakePcscTransport(card);
    const cards = new CardManager({ log: silent });
    const provider = new CardKeyProvider({ cards, pins: new TestPins(), log: silent, listDeadlineMs: 10_000 });
    const session = (await cards.attach('r', async () => transport))!;
    expect(session.snapshot.authKeyProblem).toMatch(/no authentication key/);
    expect(await provider.listIdentities(ctx)).toEqual([]);
    await card.process(ADMIN_VERIFY);
    await card.process(GENERATE_AUT);
    vi.setSystemTime(Date.now() + 2000);
    expect(await provider.listIdentities(ctx)).toHaveLength(1);
  });

  it('RSA below 2048 bits is not offered to SSH (the agent decides, the card reads it)', () => {
    expect(sshUnusableReason({ kind: 'rsa', n: new Uint8Array(128).fill(0xff), e: Uint8Array.of(1, 0, 1) })).toMatch(/RSA 1024 is too small/);
    expect(sshUnusableReason({ kind: 'rsa', n: new Uint8Array(256).fill(0xff), e: Uint8Array.of(1, 0, 1) })).toBeUndefined();
  });
});

describe('CardKeyProvider: the card is never left open', () => {
  it('after the idle time the card forgets its PIN; a burst before it keeps one APDU per signature', async () => {
    vi.useFakeTimers();
    const { provider, blob, transport, session } = await setup({ pin: '123456', idleLockMs: 5000 });
    await provider.sign(blob(), DATA, 0, ctx);
    for (let i = 0; i < 3; i++) {
      await vi.advanceTimersByTimeAsync(4000);
      const m = transport.log.length;
      await provider.sign(blob(), DATA, 0, ctx);
      expect(transport.apdusSince(m)).toHaveLength(1);
    }
    const m = transport.log.length;
    await vi.advanceTimersByTimeAsync(5000);
    expect(transport.apdusSince(m).map((a) => a.slice(0, 8))).toEqual(['0020ff82', '0020ff81']);
    expect(session.pinState(0x82)).toBe('not-verified');
    // Another program's INTERNAL AUTHENTICATE now gets 6982.
    const direct = await transport.card.process(Uint8Array.from([0x00, 0x88, 0x00, 0x00, 0x04, 1, 2, 3, 4, 0x00]));
    expect(Buffer.from(direct.subarray(-2)).toString('hex')).toBe('6982');
    // Our next signature verifies first (it knows), without the 6982 round trip.
    const n = transport.log.length;
    await provider.sign(blob(), DATA, 0, ctx);
    expect(transport.apdusSince(n).map((a) => a.slice(0, 8))).toEqual(['00ca00c4', '00200082', '00880000']);
  });

  it('idle lock 0: the card forgets its PIN right after every signature', async () => {
    const { provider, blob, transport } = await setup({ pin: '123456', idleLockMs: 0 });
    const mark = transport.log.length;
    await provider.sign(blob(), DATA, 0, ctx);
    // PW1 81 was never verified since the lock at attach: only 82 needs forgetting.
    await vi.waitFor(() => expect(transport.apdusSince(mark).at(-1)).toMatch(/^0020ff82/));
    const direct = await transport.card.process(Uint8Array.from([0x00, 0x88, 0x00, 0x00, 0x04, 1, 2, 3, 4, 0x00]));
    expect(Buffer.from(direct.subarray(-2)).toString('hex')).toBe('6982');
  });

  it('a card that arrives verified (an earlier agent) gets locked after the idle time too', async () => {
    vi.useFakeTimers();
    const { transport } = await setup({ idleLockMs: 5000 });
    const m = transport.log.length;
    await vi.advanceTimersByTimeAsync(5000);
    expect(transport.apdusSince(m).map((a) => a.slice(0, 8))).toEqual(['0020ff82', '0020ff81']);
  });

  it('ssh-add -x (agent locked), -D and shutdown make the card forget its PIN', async () => {
    for (const how of ['lock', 'remove-all', 'close'] as const) {
      const { provider, blob, card } = await setup({ pin: '123456' });
      await provider.sign(blob(), DATA, 0, ctx);
      if (how === 'lock') await provider.agentLocked();
      else if (how === 'remove-all') await provider.removeAllIdentities(ctx);
      else await provider.close();
      const direct = await card.process(Uint8Array.from([0x00, 0x88, 0x00, 0x00, 0x04, 1, 2, 3, 4, 0x00]));
      expect(Buffer.from(direct.subarray(-2)).toString('hex'), how).toBe('6982');
    }
  });

  it('ssh-add -d of the card key: the card forgets its PIN, the key stays listed, the stored PIN stays', async () => {
    const { provider, blob, card, pins, session } = await setup({ pin: '123456' });
    await provider.sign(blob(), DATA, 0, ctx);
    expect(await provider.removeIdentity(blob(), ctx)).toBe(true);
    const direct = await card.process(Uint8Array.from([0x00, 0x88, 0x00, 0x00, 0x04, 1, 2, 3, 4, 0x00]));
    expect(Buffer.from(direct.subarray(-2)).toString('hex')).toBe('6982');
    expect(await provider.listIdentities(ctx)).toHaveLength(1);
    expect((await pins.status(session.ident)).location).not.toBe('none');
    expect(await provider.removeIdentity(new Uint8Array([0, 0, 0, 1, 0x61]), ctx)).toBe(false);
  });

  it('ssh-add -s -t: when the lifetime ends the PIN is gone and the card forgets it', async () => {
    vi.useFakeTimers();
    const { provider, pins, session, transport } = await setup();
    await provider.addSmartcardKey(session.ident, new Secret('123456'), [{ kind: 'lifetime', seconds: 30 }], ctx);
    expect(await pins.get(session.ident)).toBeDefined();
    const m = transport.log.length;
    await vi.advanceTimersByTimeAsync(30_000);
    expect(await pins.get(session.ident)).toBeUndefined();
    expect(transport.apdusSince(m).map((a) => a.slice(0, 8))).toContain('0020ff82');
  });

  it('if the PIN cannot be stored after the card accepted it, the card forgets it again', async () => {
    const pins = new TestPins();
    pins.keep = async () => {
      throw new AgentError('keychain refused');
    };
    const { provider, session, card } = await setup({ pins });
    await expect(provider.addSmartcardKey(session.ident, new Secret('123456'), [], ctx)).rejects.toThrow(/keychain refused/);
    const direct = await card.process(Uint8Array.from([0x00, 0x88, 0x00, 0x00, 0x04, 1, 2, 3, 4, 0x00]));
    expect(Buffer.from(direct.subarray(-2)).toString('hex')).toBe('6982');
  });

  it('ssh-add -e resets the card first, then forgets the PIN', async () => {
    const { provider, session, pins, blob, card } = await setup({ pin: '123456' });
    expect(await provider.sign(blob(), DATA, 0, ctx)).not.toBeNull();
    await provider.removeSmartcardKey(session.ident, new Secret(''), ctx);
    expect(await pins.get(session.ident)).toBeUndefined();
    const direct = await card.process(Uint8Array.from([0x00, 0x88, 0x00, 0x00, 0x04, 1, 2, 3, 4, 0x00]));
    expect(Buffer.from(direct.subarray(-2)).toString('hex')).toBe('6982');
    await expect(provider.sign(blob(), DATA, 0, ctx)).rejects.toBeInstanceOf(PinRequiredError);
  });
});

describe('CardKeyProvider: PIN rules (the agent never blocks a card)', () => {
  it('with no PIN stored, fails and tells the exact ssh-add command; no try is spent', async () => {
    const { provider, blob, notes, card, session } = await setup();
    await expect(provider.sign(blob(), DATA, 0, ctx)).rejects.toBeInstanceOf(PinRequiredError);
    expect(notes.seen.at(-1)?.message).toContain(`ssh-add -s ${session.ident}`);
    expect(card.state.retries.pw1).toBe(3);
  });

  it('a wrong stored PIN costs exactly one try, ever', async () => {
    const { provider, blob, card, notes } = await setup({ pin: '999999' });
    for (let i = 0; i < 20; i++) await expect(provider.sign(blob(), DATA, 0, ctx)).rejects.toBeInstanceOf(AgentError);
    expect(card.state.retries.pw1).toBe(2);
    expect(notes.seen.some((n) => n.title === 'Wrong PIN' && /2 tries left/.test(n.message))).toBe(true);
  });

  it('a stored PIN the card answers with something other than 63Cx is never sent again either', async () => {
    const { provider, blob, card, pins, session } = await setup({ pin: '999999' });
    // A card implementation that answers a wrong PIN with 6982 (and still counts it).
    const process = card.process.bind(card);
    card.process = async (apdu: Uint8Array) => {
      const r = await process(apdu);
      return apdu[1] === 0x20 && apdu[2] === 0x00 && r[r.length - 2] === 0x63 ? Uint8Array.of(0x69, 0x82) : r;
    };
    await expect(provider.sign(blob(), DATA, 0, ctx)).rejects.toBeInstanceOf(PinRejectedError);
    expect(await pins.get(session.ident)).toBeUndefined();
    await expect(provider.sign(blob(), DATA, 0, ctx)).rejects.toBeInstanceOf(PinRequiredError);
    expect(card.state.retries.pw1).toBe(2);
  });

  it('never sends a stored PIN when only one try is left; a typed one may use it', async () => {
    const { provider, blob, card, session } = await setup({ pin: '123456' });
    card.state.retries.pw1 = 1;
    await expect(provider.sign(blob(), DATA, 0, ctx)).rejects.toThrow(/1 try left/);
    expect(card.state.retries.pw1).toBe(1);
    await provider.addSmartcardKey(session.ident, new Secret('123456'), [], ctx);
    expect(card.state.retries.pw1).toBe(3);
    expect(await provider.sign(blob(), DATA, 0, ctx)).not.toBeNull();
  });

  it('a blocked card is reported with the ways to unblock it, never "run ssh-add -s"', async () => {
    const { provider, blob, card, notes } = await setup({ pin: '123456' });
    card.state.retries.pw1 = 0;
    await expect(provider.sign(blob(), DATA, 0, ctx)).rejects.toBeInstanceOf(PinBlockedError);
    expect(notes.seen.at(-1)?.message).toMatch(/blocked.*Reset Code.*Admin PIN/);
    expect(notes.seen.at(-1)?.message).not.toMatch(/ssh-add -s/);
  });

  it('a PIN shorter than 6 or longer than the card takes is refused before it reaches the card', async () => {
    const { provider, session, card, transport } = await setup();
    const mark = transport.log.length;
    await expect(provider.addSmartcardKey(session.ident, new Secret('12'), [], ctx)).rejects.toBeInstanceOf(PinFormatError);
    await expect(provider.addSmartcardKey(session.ident, new Secret('1'.repeat(200)), [], ctx)).rejects.toBeInstanceOf(PinFormatError);
    expect(transport.apdusSince(mark).filter((a) => a.startsWith('0020'))).toEqual([]);
    expect(card.state.retries.pw1).toBe(3);
  });

  it('a KDF card whose KDF-DO cannot be read gets no PIN at all', async () => {
    const { provider, session, card, transport } = await setup({ card: { kdf: true } });
    const process = card.process.bind(card);
    card.process = async (apdu: Uint8Array) => (apdu[1] === 0xca && apdu[3] === 0xf9 ? Uint8Array.of(0x6a, 0x88) : process(apdu));
    const mark = transport.log.length;
    await expect(provider.addSmartcardKey(session.ident, new Secret('123456'), [], ctx)).rejects.toBeInstanceOf(KdfUnavailableError);
    expect(transport.apdusSince(mark).filter((a) => a.startsWith('00200082'))).toEqual([]);
    expect(card.state.retries.pw1).toBe(3);
  });

  it('ssh-add -s checks the PIN on the card before keeping it; a wrong one is not kept', async () => {
    const { provider, session, pins, card } = await setup();
    await expect(provider.addSmartcardKey(session.ident.toLowerCase(), new Secret('000000'), [], ctx)).rejects.toSatisfy(
      (e) => e instanceof PinIncorrectError && e.retriesLeft === 2,
    );
    expect(await pins.get(session.ident)).toBeUndefined();
    await provider.addSmartcardKey(session.ident, new Secret('123456'), [], ctx);
    expect((await pins.get(session.ident))?.revealString()).toBe('123456');
    expect(card.state.retries.pw1).toBe(3);
  });

  it('ssh-add -s with an unknown ident names the plugged cards', async () => {
    const { provider, session } = await setup();
    await expect(provider.addSmartcardKey('0006:00000000', new Secret('123456'), [], ctx)).rejects.toThrow(session.ident);
  });

  it('-c asks before every signature and refuses when the user says no', async () => {
    const answers = [true, false];
    const asked: string[] = [];
    const { provider, session, blob } = await setup({
      confirm: async (m) => {
        asked.push(m);
        return answers.shift() ?? false;
      },
    });
    await provider.addSmartcardKey(session.ident, new Secret('123456'), [{ kind: 'confirm' }], ctx);
    expect(await provider.sign(blob(), DATA, 0, ctx)).not.toBeNull();
    await expect(provider.sign(blob(), DATA, 0, ctx)).rejects.toThrow(/not confirmed/);
    expect(asked).toHaveLength(2);
    expect(asked[0]).toContain(session.ident);
    // The prompt names the host by its known_hosts name (session-bind) and the asking program.
    const bound = {
      conn: { id: 2, log: silent, peer: { uid: 1000, gid: 1000, pid: 4242, program: 'ssh' } },
      sessions: [{ hostKey: new Uint8Array(0), hostKeyFingerprint: 'SHA256:abc', hostName: 'github.com', forwarding: false, sessionId: new Uint8Array(0) }],
    } as unknown as RequestContext;
    answers.push(true);
    await provider.sign(blob(), DATA, 0, bound);
    expect(asked[2]).toMatch(/for github\.com, asked by .*ssh.*4242/);
  });
});

describe('CardKeyProvider: cards and other programs', () => {
  it('a reset by another application mid-run: the next signature reconnects, verifies again and succeeds', async () => {
    const { provider, blob, transport } = await setup({ pin: '123456' });
    await provider.sign(blob(), DATA, 0, ctx);
    transport.resetByOtherApplication();
    const sig = await provider.sign(blob(), DATA, 0, ctx);
    expect(verifySshSignature(blob(), DATA, sig!)).toBe(true);
    expect(transport.log).toContain('reconnect');
  });

  it('another application selected between two signatures: SELECT, VERIFY again, sign', async () => {
    const { provider, blob, transport } = await setup({ pin: '123456' });
    await provider.sign(blob(), DATA, 0, ctx);
    await transport.selectForeignApplication();
    const sig = await provider.sign(blob(), DATA, 0, ctx);
    expect(verifySshSignature(blob(), DATA, sig!)).toBe(true);
  });

  it('a card pulled out mid-signature fails that request with a clear error', async () => {
    const { provider, blob, transport } = await setup({ pin: '123456' });
    transport.remove();
    await expect(provider.sign(blob(), DATA, 0, ctx)).rejects.toThrow(/removed/);
  });

  it('a card waiting for a touch gets a "Touch your card" notification; a quick one does not', async () => {
    vi.useFakeTimers();
    const slow = await setup({ pin: '123456', card: { touch: { aut: true } } });
    const signing = slow.provider.sign(slow.blob(), DATA, 0, ctx);
    await vi.advanceTimersByTimeAsync(600);
    expect(slow.notes.seen.filter((n) => n.message === `Touch your card ${slow.session.ident}`)).toHaveLength(1);
    slow.card.touch();
    expect(await signing).not.toBeNull();
    const quick = await setup({ pin: '123456' });
    await quick.provider.sign(quick.blob(), DATA, 0, ctx);
    await vi.advanceTimersByTimeAsync(600);
    expect(quick.notes.seen.filter((n) => n.title === 'Touch your card')).toEqual([]);
  });

  it('signatures waiting together on a touch card: the notification says to touch once for each', async () => {
    vi.useFakeTimers();
    const { provider, blob, notes, session, card } = await setup({ pin: '123456', card: { touch: { aut: true } } });
    const both = Promise.all([provider.sign(blob(), DATA, 0, ctx), provider.sign(blob(), DATA, 0, ctx)]);
    await vi.advanceTimersByTimeAsync(600);
    expect(notes.seen.map((n) => n.message)).toContain(`Touch your card ${session.ident}, once for each of 2 signatures`);
    card.touch();
    await vi.advanceTimersByTimeAsync(10);
    card.touch();
    const [a, b] = await both;
    expect(verifySshSignature(blob(), DATA, a!) && verifySshSignature(blob(), DATA, b!)).toBe(true);
  });

  it('no touch in time fails that request with a clear error', async () => {
    vi.useFakeTimers();
    const { provider, blob } = await setup({ pin: '123456', card: { touch: { aut: true }, touchTimeoutMs: 15_000 } });
    const signing = provider.sign(blob(), DATA, 0, ctx);
    const outcome = expect(signing).rejects.toThrow(/not touched in time/);
    await vi.advanceTimersByTimeAsync(15_000);
    await outcome;
  });
});

/** A prompt that answers from a script, one question at a time per card (as UserPinPrompt does). */
class ScriptedPrompt implements PinPrompt {
  readonly asked: PinRequest[] = [];
  private open: Promise<PinAnswer> | undefined;
  constructor(private readonly answer: () => PinAnswer | Promise<PinAnswer>) {}
  method() {
    return { kind: 'askpass' as const, program: '/scripted' };
  }
  askPin(req: PinRequest): Promise<PinAnswer> {
    this.asked.push(req);
    this.open ??= Promise.resolve(this.answer()).finally(() => setImmediate(() => (this.open = undefined)));
    return this.open.then((a) => (a === 'cancelled' ? a : { pin: new Secret(a.pin.reveal()), store: a.store }));
  }
}

describe('CardKeyProvider: a PIN prompt when none is stored (issue #9)', () => {
  it('asks once, naming the card and the tries left; the PIN verified on the card is kept in memory only unless the user asked to store it', async () => {
    const prompt = new ScriptedPrompt(() => ({ pin: new Secret('123456'), store: false }));
    const { provider, blob, pins, session, card } = await setup({ prompt });
    const sig = await provider.sign(blob(), DATA, 0, ctx);
    expect(verifySshSignature(blob(), DATA, sig!)).toBe(true);
    expect(prompt.asked).toEqual([expect.objectContaining({ ident: session.ident, retriesLeft: 3, minLength: 6 })]);
    expect((await pins.status(session.ident)).location).toBe('memory-until-exit');
    expect(await pins.keychain.get(session.ident)).toBeUndefined();
    expect(card.state.retries.pw1).toBe(3);
    expect(await provider.sign(blob(), DATA, 0, ctx)).not.toBeNull();
    expect(prompt.asked).toHaveLength(1);
  });

  it('"store it" puts the PIN in the keychain', async () => {
    const prompt = new ScriptedPrompt(() => ({ pin: new Secret('123456'), store: true }));
    const { provider, blob, pins, session } = await setup({ prompt });
    await provider.sign(blob(), DATA, 0, ctx);
    expect((await pins.keychain.get(session.ident))?.revealString()).toBe('123456');
  });

  it('a cancelled prompt fails the request without touching the card', async () => {
    const prompt = new ScriptedPrompt(() => 'cancelled');
    const { provider, blob, transport, card } = await setup({ prompt });
    const mark = transport.log.length;
    await expect(provider.sign(blob(), DATA, 0, ctx)).rejects.toThrow(/cancelled; the card was not touched/);
    expect(transport.apdusSince(mark).filter((a) => a.startsWith('0020'))).toEqual([]);
    expect(card.state.retries.pw1).toBe(3);
  });

  it('two signatures arriving together go to the card together: one prompt, one VERIFY', async () => {
    let release: (a: PinAnswer) => void = () => undefined;
    const prompt = new ScriptedPrompt(() => new Promise<PinAnswer>((r) => (release = r)));
    const { provider, blob, transport } = await setup({ prompt });
    const mark = transport.log.length;
    const both = Promise.all([provider.sign(blob(), DATA, 0, ctx), provider.sign(blob(), DATA, 0, ctx)]);
    await vi.waitFor(() => expect(prompt.asked).toHaveLength(1));
    release({ pin: new Secret('123456'), store: false });
    const [a, b] = await both;
    expect(verifySshSignature(blob(), DATA, a!) && verifySshSignature(blob(), DATA, b!)).toBe(true);
    expect(prompt.asked).toHaveLength(1);
    expect(transport.apdusSince(mark).filter((x) => x.startsWith('00200082'))).toHaveLength(1);
  });

  it('a signature arriving while the prompt is open waits on that prompt; the PIN is verified once', async () => {
    let release: (a: PinAnswer) => void = () => undefined;
    const prompt = new ScriptedPrompt(() => new Promise<PinAnswer>((r) => (release = r)));
    const { provider, blob, transport } = await setup({ prompt });
    const mark = transport.log.length;
    const first = provider.sign(blob(), DATA, 0, ctx);
    await vi.waitFor(() => expect(prompt.asked).toHaveLength(1));
    const second = provider.sign(blob(), DATA, 0, ctx);
    await vi.waitFor(() => expect(prompt.asked).toHaveLength(2));
    release({ pin: new Secret('123456'), store: false });
    const [a, b] = await Promise.all([first, second]);
    expect(verifySshSignature(blob(), DATA, a!) && verifySshSignature(blob(), DATA, b!)).toBe(true);
    expect(transport.apdusSince(mark).filter((x) => x.startsWith('00200082'))).toHaveLength(1);
  });

  it('with one try left a stored PIN is not sent, but the user may type it: the prompt says it is the last try', async () => {
    const prompt = new ScriptedPrompt(() => ({ pin: new Secret('123456'), store: false }));
    const { provider, blob, card } = await setup({ prompt, pin: '123456' });
    card.state.retries.pw1 = 1;
    expect(await provider.sign(blob(), DATA, 0, ctx)).not.toBeNull();
    expect(prompt.asked[0]?.retriesLeft).toBe(1);
    expect(card.state.retries.pw1).toBe(3);
  });

  it('a wrong typed PIN costs one try and is not kept; a card whose stored PIN was rejected is not prompted for', async () => {
    const prompt = new ScriptedPrompt(() => ({ pin: new Secret('000000'), store: true }));
    const { provider, blob, card, pins, session } = await setup({ prompt });
    await expect(provider.sign(blob(), DATA, 0, ctx)).rejects.toBeInstanceOf(PinIncorrectError);
    expect(card.state.retries.pw1).toBe(2);
    expect((await pins.status(session.ident)).location).toBe('none');
    const bad = await setup({ prompt, pin: '999999' });
    await expect(bad.provider.sign(bad.blob(), DATA, 0, ctx)).rejects.toBeInstanceOf(PinIncorrectError);
    const asked = prompt.asked.length;
    await expect(bad.provider.sign(bad.blob(), DATA, 0, ctx)).rejects.toThrow(/was rejected by the card/);
    expect(prompt.asked).toHaveLength(asked);
  });

  it('-c is refused when there is no way to confirm, before the PIN reaches the card', async () => {
    const { provider, session, transport } = await setup({ confirm: async () => true, confirmUnavailable: () => 'SSH_ASKPASS is not set' });
    const mark = transport.log.length;
    await expect(provider.addSmartcardKey(session.ident, new Secret('123456'), [{ kind: 'confirm' }], ctx)).rejects.toThrow(/no way to ask the user: SSH_ASKPASS is not set/);
    expect(transport.apdusSince(mark)).toEqual([]);
  });
});
