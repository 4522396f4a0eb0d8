import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { KeyringPinStore } from '../../src/pins/keyring-pin-store.js';
import { PinRegistry } from '../../src/pins/pin-registry.js';
import { Secret } from '../../src/secret.js';
import { KeychainError } from '../../src/errors.js';
import { RecordingNotifier } from '../../src/notify/notifier.js';
import { MapKeyring } from './fakes.js';

const CARD = '0006:12345678';

describe('PinRegistry', () => {
  let keyring: MapKeyring;
  let pins: PinRegistry;
  let notifier: RecordingNotifier;

  beforeEach(() => {
    vi.useFakeTimers();
    keyring = new MapKeyring();
    notifier = new RecordingNotifier();
    pins = new PinRegistry({ persistent: new KeyringPinStore({ backend: keyring }), notifier });
  });
  afterEach(() => vi.useRealTimers());

  it('a PIN without a lifetime goes to the keychain only', async () => {
    expect(await pins.set(CARD, new Secret('123456'))).toBe('keychain');
    expect(keyring.entries.get(CARD)).toBe('123456');
    expect(pins.memory.has(CARD)).toBe(false);
    expect(await pins.locate(CARD)).toBe('keychain');
  });

  it('a PIN with a lifetime stays in memory, wins over the keychain, removes an older keychain copy, and ends', async () => {
    keyring.entries.set(CARD, 'older');
    const expired: string[] = [];
    pins.onExpire = (i) => expired.push(i);
    expect(await pins.set(CARD, new Secret('123456'), { lifetimeSeconds: 30 })).toBe('memory');
    expect(keyring.entries.has(CARD)).toBe(false);
    expect((await pins.get(CARD))?.revealString()).toBe('123456');
    expect(await pins.locate(CARD)).toBe('memory');
    vi.advanceTimersByTime(30_000);
    expect(expired).toEqual([CARD]);
    expect(await pins.get(CARD)).toBeUndefined();
    expect(await pins.locate(CARD)).toBe('none');
  });

  it('memory PINs are looked at first, before the keychain', async () => {
    keyring.entries.set(CARD, 'keychain-pin');
    await pins.memory.set(CARD, new Secret('memory-pin'), 60);
    expect((await pins.get(CARD))?.revealString()).toBe('memory-pin');
    await pins.memory.delete(CARD);
    expect((await pins.get(CARD))?.revealString()).toBe('keychain-pin');
  });

  it('a rejected PIN is removed everywhere and the card stays known bad until a new PIN is given', async () => {
    keyring.entries.set(CARD, '999999');
    await pins.markBad(CARD);
    expect(keyring.entries.has(CARD)).toBe(false);
    expect(pins.isKnownBad(CARD)).toBe(true);
    expect(await pins.locate(CARD)).toBe('known-bad');
    // Even if something (openpgp-card-state, a second agent) writes the same bad PIN back.
    keyring.entries.set(CARD, '999999');
    expect(await pins.get(CARD)).toBeUndefined();
    await pins.set(CARD, new Secret('123456'));
    expect(pins.isKnownBad(CARD)).toBe(false);
    expect((await pins.get(CARD))?.revealString()).toBe('123456');
  });

  it('markBad survives an unreachable keychain: the mark alone keeps the PIN from being sent', async () => {
    await pins.memory.set(CARD, new Secret('999999'));
    keyring.down = true;
    await pins.markBad(CARD);
    expect(pins.isKnownBad(CARD)).toBe(true);
    expect(await pins.get(CARD)).toBeUndefined();
  });

  it('forget (ssh-add -e) removes memory and keychain copies and the bad mark', async () => {
    await pins.set(CARD, new Secret('123456'));
    await pins.memory.set(CARD, new Secret('654321'), 60);
    await pins.markBad('0006:00000002');
    await pins.forget(CARD);
    await pins.forget('0006:00000002');
    expect(keyring.entries.size).toBe(0);
    expect(pins.memory.has(CARD)).toBe(false);
    expect(pins.isKnownBad('0006:00000002')).toBe(false);
    expect(await pins.get(CARD)).toBeUndefined();
  });

  it('without a keychain a PIN is kept in memory until the agent stops, said to the notifier, and status shows it', async () => {
    keyring.down = true;
    expect(await pins.set(CARD, new Secret('123456'))).toBe('memory-until-exit');
    expect(notifier.notifications).toEqual([expect.objectContaining({ title: 'PIN kept in memory only', message: expect.stringContaining(CARD) })]);
    expect(await pins.locate(CARD)).toBe('memory-until-exit');
    expect((await pins.get(CARD))?.revealString()).toBe('123456');
    vi.advanceTimersByTime(24 * 3600 * 1000);
    expect((await pins.get(CARD))?.revealString()).toBe('123456');
    pins.close();
    expect(pins.memory.has(CARD)).toBe(false);
  });

  it('status follows a card between memory-until-exit, memory with a lifetime, and the keychain', async () => {
    await pins.preset(CARD, new Secret('111111'));
    expect(await pins.status(CARD)).toEqual({ location: 'memory-until-exit', staleKeychainCopy: undefined });
    expect(await pins.set(CARD, new Secret('222222'), { lifetimeSeconds: 30 })).toBe('memory');
    expect(await pins.status(CARD)).toEqual({ location: 'memory', secondsLeft: 30, staleKeychainCopy: undefined });
    expect(await pins.set(CARD, new Secret('333333'), { memoryOnly: true })).toBe('memory-until-exit');
    expect(await pins.status(CARD)).toEqual({ location: 'memory-until-exit', staleKeychainCopy: undefined });
    expect(await pins.set(CARD, new Secret('444444'))).toBe('keychain');
    expect(await pins.status(CARD)).toEqual({ location: 'keychain' });
    await pins.preset(CARD, new Secret('555555'));
    await pins.markBad(CARD);
    expect(await pins.status(CARD)).toEqual({ location: 'known-bad', staleKeychainCopy: undefined });
    await pins.forget(CARD);
    await pins.preset(CARD, new Secret('666666'));
    expect(await pins.status(CARD)).toEqual({ location: 'memory-until-exit', staleKeychainCopy: undefined });
    expect(pins.forgetAllMemory()).toEqual([CARD]);
    expect(await pins.status(CARD)).toEqual({ location: 'none' });
    await pins.set(CARD, new Secret('777777'), { lifetimeSeconds: 5 });
    vi.advanceTimersByTime(5000);
    expect(await pins.status(CARD)).toEqual({ location: 'none' });
  });

  it('with no PIN in memory, an unreachable keychain is reported, not taken for "no PIN"', async () => {
    keyring.down = true;
    await expect(pins.get(CARD)).rejects.toThrow(/keychain/);
  });

  it('forget: memory first; a keychain copy that cannot be deleted fails with the reason and is never read again until a new PIN is stored', async () => {
    await pins.set(CARD, new Secret('123456'));
    await pins.memory.set(CARD, new Secret('123456'), 60);
    keyring.deleteFails = true;
    const err = await pins.forget(CARD).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(KeychainError);
    expect((err as Error).message).toMatch(/stored copy could not be deleted: .*IsLocked/);
    expect(pins.memory.has(CARD)).toBe(false);
    // The keychain still holds it, but the registry will not hand it out.
    expect(keyring.entries.get(CARD)).toBe('123456');
    expect(await pins.get(CARD)).toBeUndefined();
    expect(await pins.status(CARD)).toEqual({ location: 'none', staleKeychainCopy: expect.stringContaining('IsLocked') });
    expect(keyring.calls.filter((c) => c.startsWith('get'))).toEqual([]);
    // Also not after a lifetime PIN comes and goes.
    await pins.set(CARD, new Secret('123456'), { lifetimeSeconds: 5 });
    vi.advanceTimersByTime(5000);
    expect(await pins.get(CARD)).toBeUndefined();
    keyring.deleteFails = false;
    await pins.set(CARD, new Secret('654321'));
    expect((await pins.get(CARD))?.revealString()).toBe('654321');
    expect(await pins.status(CARD)).toEqual({ location: 'keychain' });
  });

  it('a -t PIN whose older keychain copy cannot be removed: that copy is not read after the lifetime', async () => {
    keyring.entries.set(CARD, 'older');
    keyring.deleteFails = true;
    expect(await pins.set(CARD, new Secret('123456'), { lifetimeSeconds: 10 })).toBe('memory');
    expect(await pins.status(CARD)).toMatchObject({ location: 'memory', secondsLeft: 10, staleKeychainCopy: expect.any(String) });
    vi.advanceTimersByTime(10_000);
    expect(await pins.get(CARD)).toBeUndefined();
  });

  it('forgetAllMemory (ssh-add -D) drops every memory PIN and leaves the keychain alone', async () => {
    await pins.set(CARD, new Secret('123456'));
    await pins.set('0006:00000002', new Secret('222222'), { lifetimeSeconds: 60 });
    await pins.preset('0006:00000003', new Secret('333333'));
    expect(pins.forgetAllMemory().sort()).toEqual(['0006:00000002', '0006:00000003']);
    expect(await pins.get('0006:00000002')).toBeUndefined();
    expect(await pins.get('0006:00000003')).toBeUndefined();
    expect(keyring.entries.get(CARD)).toBe('123456');
  });

  it('a PIN handed out is a copy: wiping it leaves the registry\'s own intact', async () => {
    await pins.set(CARD, new Secret('123456'), { lifetimeSeconds: 60 });
    const a = await pins.get(CARD);
    a?.wipe();
    expect((await pins.get(CARD))?.revealString()).toBe('123456');
  });

  it('idents are one card whatever their case', async () => {
    await pins.set('0006:abcdef01', new Secret('123456'));
    expect((await pins.get('0006:ABCDEF01'))?.revealString()).toBe('123456');
    await pins.markBad('0006:ABCDEF01');
    expect(pins.isKnownBad('0006:abcdef01')).toBe(true);
  });
});
