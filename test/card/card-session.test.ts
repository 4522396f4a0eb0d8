import pino from 'pino';
import { describe, expect, it, vi } from 'vitest';
import { CardSession } from '../../src/card/card-session.js';
import { PW1_81, PW1_82 } from '../../src/card/openpgp/openpgp-card.js';
import { CardResetError, ForeignApplicationError, SecurityStatusNotSatisfiedError } from '../../src/errors.js';
import { Secret } from '../../src/secret.js';
import { VirtualCard } from '../../src/simulator/virtual-card.js';
import { FakePcscTransport } from './fake-pcsc-transport.js';

const silent = pino({ level: 'silent' });
const PIN = new Secret('123456');
const MESSAGE = new TextEncoder().encode('session test');
const SELECT = '00a4040006d27600012401';
const isSelect = (h: string): boolean => h.startsWith(SELECT);

async function open(options: Parameters<typeof VirtualCard.create>[0] = {}) {
  const card = await VirtualCard.create({ authAlgorithm: 'ed25519', ...options });
  const t = new FakePcscTransport(card);
  let now = 1_000_000;
  const session = await CardSession.open('fake reader', t, { log: silent }, () => now);
  return { card, t, session, advance: (ms: number) => (now += ms) };
}

describe('CardSession.open', () => {
  it('SELECT, 6E and the authentication key, inside one transaction', async () => {
    const { t, session } = await open();
    expect(t.log[0]).toBe('begin');
    expect(t.log.at(-1)).toBe('end');
    // 6E is read in short mode (its limits are not known before), so it may come in 61xx pieces.
    const apdus = t.apdusSince(0).filter((a) => !a.startsWith('00c00000'));
    expect(apdus).toHaveLength(3);
    expect(isSelect(apdus[0]!)).toBe(true);
    expect(apdus[1]!.startsWith('00ca006e')).toBe(true);
    expect(apdus[2]!.startsWith('00478100')).toBe(true);
    expect(session.snapshot.authKey?.kind).toBe('eddsa');
    expect(session.ident).toMatch(/^[0-9A-F]{4}:[0-9A-F]{8}$/);
  });
});

describe('CardSession.run: queue, transaction, alive and selected, op, end', () => {
  it('wraps every operation in a transaction begun with its first APDU; an operation that sends nothing begins none', async () => {
    const { t, session } = await open();
    const mark = t.log.length;
    await session.run('nothing', async () => 42);
    expect(t.log.slice(mark)).toEqual([]);
    await session.run('two APDUs', async (op) => {
      await op.card.pw1Retries();
      await op.card.pw1Retries();
    });
    // The transaction ends a moment after the operation (it lingers for a next one).
    await vi.waitFor(() => expect(t.log.at(-1)).toBe('end'));
    expect(t.log.slice(mark)).toEqual(['begin', expect.stringMatching(/^> 00ca00c4/), expect.stringMatching(/^> 00ca00c4/), 'end']);
  });

  it('back-to-back operations share one transaction; it never lasts longer than 25 ms, then other applications get the card', async () => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout'] });
    try {
      const { t, session, advance } = await open();
      const mark = t.log.length;
      await session.run('one', (op) => op.card.pw1Retries());
      await session.run('two', (op) => op.card.pw1Retries());
      expect(t.log.slice(mark).filter((l) => l === 'begin' || l === 'end')).toEqual(['begin']);
      await vi.advanceTimersByTimeAsync(3);
      expect(t.log.at(-1)).toBe('end');
      const m2 = t.log.length;
      await session.run('three', (op) => op.card.pw1Retries());
      advance(30); // the card has been ours for 30 ms by the session's clock
      await session.run('four', (op) => op.card.pw1Retries());
      expect(t.log.slice(m2).filter((l) => l === 'begin' || l === 'end')).toEqual(['begin', 'end']);
    } finally {
      vi.useRealTimers();
    }
  });

  it('runs operations one at a time, in order', async () => {
    const { session } = await open();
    const order: string[] = [];
    const slow = session.run('a', async (op) => {
      order.push('a start');
      await op.card.pw1Retries();
      await new Promise((r) => setImmediate(r));
      order.push('a end');
    });
    const fast = session.run('b', async () => {
      order.push('b');
    });
    await Promise.all([slow, fast]);
    expect(order).toEqual(['a start', 'a end', 'b']);
  });

  it('after a reset by another application: reconnect, SELECT, read 6E and the key again, then the WHOLE operation once more', async () => {
    const { t, session } = await open();
    await session.run('verify', (op) => op.verifyPw1(PIN, PW1_82));
    const generation = session.snapshot.generation;
    t.resetByOtherApplication();
    const mark = t.log.length;
    let attempts = 0;
    const sig = await session.run('sign', async (op) => {
      attempts++;
      try {
        return await op.card.authenticate(MESSAGE, 'sha512');
      } catch (err) {
        // The reset also forgot the PIN: the operation verifies again, as a provider would.
        if (!(err instanceof SecurityStatusNotSatisfiedError)) throw err;
        await op.verifyPw1(PIN, PW1_82);
        return op.card.authenticate(MESSAGE, 'sha512');
      }
    });
    expect(sig).toHaveLength(64);
    expect(attempts).toBe(2);
    const after = t.log.slice(mark);
    expect(after.indexOf('reconnect')).toBeGreaterThan(-1);
    const apdus = t.apdusSince(mark);
    expect(isSelect(apdus[0]!)).toBe(true);
    expect(apdus[1]!.startsWith('00ca006e')).toBe(true);
    expect(session.snapshot.generation).toBe(generation + 1);
    expect(session.pinState(PW1_82)).toBe('verified');
  });

  it('a second reset during the retry is not retried again: the error reaches the caller', async () => {
    const { t, session } = await open();
    t.resetByOtherApplication();
    let attempts = 0;
    await expect(
      session.run('sign', async (op) => {
        attempts++;
        if (attempts === 2) t.resetByOtherApplication();
        return op.card.pw1Retries();
      }),
    ).rejects.toBeInstanceOf(CardResetError);
    expect(attempts).toBe(2);
  });

  it('another application selected in between (6D00): SELECT ours again and retry the whole operation once', async () => {
    const { t, session } = await open();
    await session.run('verify', (op) => op.verifyPw1(PIN, PW1_82));
    await t.selectForeignApplication();
    const mark = t.log.length;
    let attempts = 0;
    const left = await session.run('retries', async (op) => {
      attempts++;
      return op.card.pw1Retries();
    });
    expect(left).toBe(3);
    expect(attempts).toBe(2);
    const apdus = t.apdusSince(mark);
    expect(apdus.map((a) => a.slice(0, 8))).toEqual(['00ca00c4', '00a40400', '00ca00c4']);
    // Our application was deselected: whatever was verified is unknown now.
    expect(session.pinState(PW1_82)).toBe('unknown');
  });

  it('a foreign selection that persists is reported, not looped on', async () => {
    const { t, session } = await open();
    await expect(
      session.run('retries', async (op) => {
        await t.selectForeignApplication();
        return op.card.pw1Retries();
      }),
    ).rejects.toBeInstanceOf(ForeignApplicationError);
  });
});

describe('PINs go only to our application', () => {
  it('VERIFY is preceded by SELECT in the same transaction, unless a GET DATA there proved our application', async () => {
    const { t, session } = await open();
    let mark = t.log.length;
    await session.run('verify', (op) => op.verifyPw1(PIN, PW1_82));
    let apdus = t.apdusSince(mark).map((a) => a.slice(0, 8));
    // The card has a KDF-DO (C0 says so): F9 is read once per selection before the first PIN.
    expect(apdus).toEqual(['00a40400', '00ca00f9', '00200082']);
    mark = t.log.length;
    await session.run('verify after C4', async (op) => {
      await op.pw1Retries();
      await op.verifyPw1(PIN, PW1_81);
    });
    apdus = t.apdusSince(mark).map((a) => a.slice(0, 8));
    expect(apdus).toEqual(['00ca00c4', '00200081']);
    expect(session.pinState(PW1_81)).toBe('verified');
  });

  it('with the PIV application selected by someone else, the PIN never reaches it', async () => {
    const { t, session, card } = await open();
    await t.selectForeignApplication();
    await session.run('verify', (op) => op.verifyPw1(PIN, PW1_81));
    // The VERIFY went to OpenPGP (after our SELECT) and was accepted there.
    expect(card.state.retries.pw1).toBe(3);
    expect(session.pinState(PW1_81)).toBe('verified');
  });
});

describe('forgetVerification', () => {
  it('3.x card: VERIFY FF 82 (and 81 when it may be verified), in a transaction; the card then wants the PIN', async () => {
    const { t, session } = await open();
    await session.run('verify', async (op) => {
      await op.verifyPw1(PIN, PW1_82);
    });
    const mark = t.log.length;
    await session.forgetVerification();
    await vi.waitFor(() => expect(t.log.at(-1)).toBe('end'));
    expect(t.log.slice(mark).filter((l) => l !== 'begin')).toEqual([expect.stringMatching(/^> 0020ff82/), expect.stringMatching(/^> 0020ff81/), 'end']);
    expect(session.pinState(PW1_82)).toBe('not-verified');
    await expect(session.run('sign', (op) => op.card.authenticate(MESSAGE, 'sha512'))).rejects.toBeInstanceOf(SecurityStatusNotSatisfiedError);
  });

  it('after a reset by another application: reconnect, SELECT, read the card again, then VERIFY FF 82 (81 was forgotten by the reset)', async () => {
    const { t, session, card } = await open();
    await session.run('verify', (op) => op.verifyPw1(PIN, PW1_82));
    t.resetByOtherApplication();
    // Whoever reset it verified PW1 82 since: the card is open, and only VERIFY FF closes it.
    expect(Buffer.from(await card.process(Uint8Array.from(Buffer.from(SELECT + '00', 'hex')))).toString('hex')).toMatch(/9000$/);
    expect(Buffer.from(await card.process(Uint8Array.from(Buffer.from('0020008206' + Buffer.from('123456').toString('hex'), 'hex')))).toString('hex')).toBe('9000');
    const mark = t.log.length;
    await session.forgetVerification();
    const after = t.log.slice(mark);
    expect(after).toContain('reconnect');
    const apdus = t.apdusSince(mark).map((a) => a.slice(0, 8));
    expect(apdus[0]).toBe('00a40400');
    expect(apdus[1]).toBe('00ca006e');
    expect(apdus.at(-1)).toBe('0020ff82');
    expect(apdus.filter((a) => a.startsWith('0020ff'))).toEqual(['0020ff82']);
    expect(session.pinState(PW1_82)).toBe('not-verified');
    await expect(session.run('sign', (op) => op.card.authenticate(MESSAGE, 'sha512'))).rejects.toBeInstanceOf(SecurityStatusNotSatisfiedError);
  });

  it('another application selected in between: SELECT ours again and send VERIFY FF 82 and 81 to it', async () => {
    const { t, session } = await open();
    await session.run('verify', (op) => op.verifyPw1(PIN, PW1_82));
    await t.selectForeignApplication();
    const mark = t.log.length;
    await session.forgetVerification();
    // The first VERIFY FF 82 reached the other application (6D00); the whole operation went again.
    expect(t.apdusSince(mark).map((a) => a.slice(0, 8))).toEqual(['0020ff82', '00a40400', '0020ff82', '0020ff81']);
    expect(session.pinState(PW1_82)).toBe('not-verified');
    expect(session.pinState(PW1_81)).toBe('not-verified');
    await expect(session.run('sign', (op) => op.card.authenticate(MESSAGE, 'sha512'))).rejects.toBeInstanceOf(SecurityStatusNotSatisfiedError);
  });
});

describe('revalidate: a key changed on a plugged card is seen', () => {
  it('at most once per max age: one GET DATA C5; a full read when the fingerprints changed', async () => {
    const { t, session, card, advance } = await open();
    const before = session.snapshot;
    let mark = t.log.length;
    expect(await session.revalidate(1000)).toBe(false);
    expect(t.apdusSince(mark)).toEqual([]); // checked at open, not stale yet
    advance(1500);
    expect(await session.revalidate(1000)).toBe(false);
    expect(t.apdusSince(mark).map((a) => a.slice(0, 8))).toEqual(['00ca00c5']);
    // Someone generates a new authentication key on the card (as gpg's SCD GENKEY would).
    await card.process(Uint8Array.from(Buffer.from('0020008308' + Buffer.from('12345678').toString('hex'), 'hex')));
    await card.process(Uint8Array.from(Buffer.from('0047800002a40000', 'hex')));
    advance(1500);
    mark = t.log.length;
    expect(await session.revalidate(1000)).toBe(true);
    expect(t.apdusSince(mark).map((a) => a.slice(0, 8))).toEqual(['00ca00c5', '00ca006e', '00478100']);
    expect(session.snapshot.generation).toBe(before.generation + 1);
    expect(session.snapshot.authKey).not.toEqual(before.authKey);
  });
});
