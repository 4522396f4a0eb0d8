import { describe, expect, it } from 'vitest';
import {
  MIN_RETRIES_FOR_STORED_PIN,
  blockedMessage,
  decideStoredPin,
  pinNeededMessage,
  sshAddCommand,
  wrongPinMessage,
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

describe('PIN policy: what the user is told', () => {
  it('a wrong stored PIN: the tries left, that it was removed, and the command', () => {
    for (const x of [1, 2, 14]) {
      const m = wrongPinMessage(ident, x, 'stored');
      expect(m).toContain(`${x} ${x === 1 ? 'try' : 'tries'} left`);
      expect(m).toContain('removed');
      expect(m).toContain(`ssh-add -s ${ident}`);
    }
  });

  it('a wrong typed PIN: the tries left only', () => {
    expect(wrongPinMessage(ident, 2, 'typed')).toBe('wrong PIN for card 0006:12345678; 2 tries left');
  });

  it('a wrong PIN from a card that gives no counter (6982) says the count is unknown', () => {
    expect(wrongPinMessage(ident, undefined, 'stored')).toContain('the card did not say how many tries are left');
  });

  it('a blocked card: the message names every way back', () => {
    const m = blockedMessage(ident);
    expect(m).toContain(ident);
    expect(m).toMatch(/Reset Code.*gpg --card-edit.*unblock/);
    expect(m).toMatch(/Admin PIN.*passwd/);
    expect(m).toMatch(/factory-reset/);
  });
});
