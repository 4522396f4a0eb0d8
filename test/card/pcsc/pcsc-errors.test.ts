import { describe, expect, it } from 'vitest';
import { CardBusyError, CardRemovedError, CardUnavailableError } from '../../../src/errors.js';
import { isResetError, isServiceGone, mapPcscError } from '../../../src/card/pcsc/pcsc-errors.js';

// The smartcard addon rejects with plain Errors whose message is its text for the PC/SC code
// (node_modules/smartcard/src/pcsc_errors.h); these are those texts.
const pcsc = (message: string): Error => new Error(message);
const READER = 'OCA Virtual Reader 00 00';

describe('PC/SC error mapping', () => {
  it('a sharing violation is CardBusyError naming scdaemon and the pcsc-shared fix', () => {
    const e = mapPcscError(pcsc('Sharing violation'), READER);
    expect(e).toBeInstanceOf(CardBusyError);
    expect(e.message).toContain(READER);
    expect(e.message).toContain('scdaemon');
    expect(e.message).toContain('pcsc-shared');
  });

  it.each(['Card was removed', 'No smart card present', 'Reader unavailable', 'Unknown reader'])('%s is CardRemovedError', (m) => {
    const e = mapPcscError(pcsc(m), READER);
    expect(e).toBeInstanceOf(CardRemovedError);
    expect(e.message).toContain(READER);
  });

  it.each(['PC/SC service not running', 'PC/SC service stopped'])('%s is CardUnavailableError saying pcscd is not running', (m) => {
    const e = mapPcscError(pcsc(m), READER);
    expect(e).toBeInstanceOf(CardUnavailableError);
    expect(e).not.toBeInstanceOf(CardRemovedError);
    expect(e.message).toMatch(/pcscd is not running/);
  });

  it('anything else is CardUnavailableError carrying the PC/SC text', () => {
    const e = mapPcscError(pcsc('Insufficient buffer'), READER);
    expect(e).toBeInstanceOf(CardUnavailableError);
    expect(e.constructor).toBe(CardUnavailableError);
    expect(e.message).toContain('Insufficient buffer');
    expect(mapPcscError('not even an Error', READER).message).toContain('not even an Error');
  });

  it('recognises a reset by another application and a vanished service', () => {
    expect(isResetError(pcsc('Card was reset'))).toBe(true);
    expect(isResetError(pcsc('Card was removed'))).toBe(false);
    expect(isResetError('Card was reset')).toBe(false);
    expect(isServiceGone(pcsc('PC/SC service stopped'))).toBe(true);
    expect(isServiceGone(pcsc('Invalid handle'))).toBe(true);
    expect(isServiceGone(pcsc('Sharing violation'))).toBe(false);
  });
});
