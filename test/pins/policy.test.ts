import { describe, expect, it } from 'vitest';
import {
  MIN_RETRIES_FOR_STORED_PIN,
  blockedMessage,
  decideStoredPin,
  decideTypedPin,
  pinNeededMessage,
  sshAddCommand,
  verifyOutcome,
} from '../../src/pins/policy.js';

const ident = '0006:12345678';

describe('PIN policy: a stored PIN', () => {
  it('is sent only with at least two tries left', () => {
    expect(MIN_RETRIES_FOR_STORED_PIN).toBe(2);
    for (const retries of [2, 3, 15]) expect(decideStoredPin({ ident, hasPin: true, knownBad: false, retries })).toEqual({ action: 'verify' });
    const last = decideStoredPin({ ident, hasPin: true, knownBad: false, retries: 1 });
    expect(last).toMatchObject({ action: 'refuse', reason: 'last-try' });
    expect(last.action === 'refuse' && last.message).toContain('1 try left');
    expect(last.action === 'refuse' && last.message).toContain(`ssh-add -s ${ident}`);
  });

  it('is never sent to a blocked card, whatever else holds', () => {
    for (const hasPin of [true, false]) {
      for (const knownBad of [true, false]) {
        const d = decideStoredPin({ ident, hasPin, knownBad, retries: 0 });
        expect(d).toMatchObject({ action: 'refuse', reason: 'blocked', title: 'Card blocked' });
      }
    }
  });

  it('is not sent once the card rejected it (known bad)', () => {
    const d = decideStoredPin({ ident, hasPin: true, knownBad: true, retries: 3 });
    expect(d).toMatchObject({ action: 'refuse', reason: 'known-bad' });
    expect(d.action === 'refuse' && d.message).toContain(`ssh-add -s ${ident}`);
  });

  it('when none is stored, the message gives the exact ssh-add command', () => {
    const d = decideStoredPin({ ident, hasPin: false, knownBad: false, retries: 3 });
    expect(d).toEqual({ action: 'refuse', reason: 'no-pin', title: 'PIN needed', message: pinNeededMessage(ident) });
    expect(pinNeededMessage(ident)).toBe('card 0006:12345678 needs its PIN: run  ssh-add -s 0006:12345678');
    expect(sshAddCommand('000F:ABCDEF01')).toBe('ssh-add -s 000F:ABCDEF01');
  });
});

describe('PIN policy: a PIN the user just typed', () => {
  it('may use the last try, but is not sent to a blocked card', () => {
    expect(decideTypedPin({ ident, retries: 1 })).toEqual({ action: 'verify' });
    expect(decideTypedPin({ ident, retries: 0 })).toMatchObject({ action: 'refuse', reason: 'blocked' });
  });
});

describe('PIN policy: what VERIFY answered', () => {
  it('9000 is success', () => {
    expect(verifyOutcome({ ident, sw: 0x9000, origin: 'stored' })).toEqual({ kind: 'ok' });
  });

  it('63Cx: a stored PIN is forgotten and the user is told the tries left and the command', () => {
    for (const x of [1, 2, 14]) {
      const o = verifyOutcome({ ident, sw: 0x63c0 | x, origin: 'stored' });
      expect(o).toMatchObject({ kind: 'wrong-pin', retriesLeft: x, forgetPin: true, title: 'Wrong PIN' });
      expect(o.kind === 'wrong-pin' && o.message).toContain(`${x} ${x === 1 ? 'try' : 'tries'} left`);
      expect(o.kind === 'wrong-pin' && o.message).toContain(`ssh-add -s ${ident}`);
    }
  });

  it('63Cx after a typed PIN keeps whatever is stored, and says the tries left', () => {
    const o = verifyOutcome({ ident, sw: 0x63c2, origin: 'typed' });
    expect(o).toMatchObject({ kind: 'wrong-pin', retriesLeft: 2, forgetPin: false });
    expect(o.kind === 'wrong-pin' && o.message).toBe('wrong PIN for card 0006:12345678; 2 tries left');
  });

  it('6982 (cards that give no counter) is a wrong PIN with the count unknown', () => {
    const o = verifyOutcome({ ident, sw: 0x6982, origin: 'stored' });
    expect(o).toMatchObject({ kind: 'wrong-pin', retriesLeft: undefined, forgetPin: true });
  });

  it('6983 and 63C0 mean blocked, with a message naming every way back', () => {
    for (const sw of [0x6983, 0x63c0]) {
      const o = verifyOutcome({ ident, sw, origin: 'stored' });
      expect(o).toMatchObject({ kind: 'blocked', forgetPin: true, title: 'Card blocked', message: blockedMessage(ident) });
    }
    const m = blockedMessage(ident);
    expect(m).toContain(ident);
    expect(m).toMatch(/Reset Code.*gpg --card-edit.*unblock/);
    expect(m).toMatch(/Admin PIN.*passwd/);
    expect(m).toMatch(/factory-reset/);
  });

  it('other status words are passed on untouched', () => {
    expect(verifyOutcome({ ident, sw: 0x6a80, origin: 'stored' })).toEqual({ kind: 'other', sw: 0x6a80 });
  });
});
