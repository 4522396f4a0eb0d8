import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { MemoryPinStore } from '../../src/pins/memory-pin-store.js';
import { normalizeIdent } from '../../src/pins/pin-store.js';
import { Secret } from '../../src/secret.js';

describe('MemoryPinStore', () => {
  beforeEach(() => vi.useFakeTimers());
  afterEach(() => vi.useRealTimers());

  it('keeps a PIN without a lifetime until deleted, and wipes its copy on delete', async () => {
    const store = new MemoryPinStore();
    await store.set('0006:12345678', new Secret('123456'));
    vi.advanceTimersByTime(365 * 24 * 3600 * 1000);
    expect((await store.get('0006:12345678'))?.revealString()).toBe('123456');
    expect(store.remaining('0006:12345678')).toBe('until-deleted');
    expect(store.secondsLeft('0006:12345678')).toBeUndefined();
    expect(await store.delete('0006:12345678')).toBe(true);
    expect(await store.get('0006:12345678')).toBeUndefined();
    expect(await store.delete('0006:12345678')).toBe(false);
    expect(store.remaining('0006:12345678')).toBeUndefined();
  });

  it('forgets a PIN when its lifetime ends, and says so once', async () => {
    const store = new MemoryPinStore();
    const expired: string[] = [];
    store.onExpire = (ident) => expired.push(ident);
    await store.set('0006:12345678', new Secret('123456'), 60);
    vi.advanceTimersByTime(59_999);
    expect(store.has('0006:12345678')).toBe(true);
    expect(store.secondsLeft('0006:12345678')).toBeCloseTo(0.001, 3);
    expect(store.remaining('0006:12345678')).toBeCloseTo(0.001, 3);
    vi.advanceTimersByTime(1);
    expect(store.has('0006:12345678')).toBe(false);
    expect(await store.get('0006:12345678')).toBeUndefined();
    expect(expired).toEqual(['0006:12345678']);
  });

  it('checks the deadline on read too (timers fire late after a suspend)', async () => {
    const store = new MemoryPinStore();
    const expired: string[] = [];
    store.onExpire = (ident) => expired.push(ident);
    await store.set('0006:12345678', new Secret('123456'), 10);
    vi.setSystemTime(Date.now() + 11_000); // the clock jumps, the timer has not run
    expect(await store.get('0006:12345678')).toBeUndefined();
    expect(expired).toEqual(['0006:12345678']);
    vi.runAllTimers();
    expect(expired).toEqual(['0006:12345678']);
  });

  it('holds its own copy: the caller wiping its Secret, or the one it got, changes nothing', async () => {
    const store = new MemoryPinStore();
    const given = new Secret('123456');
    await store.set('0006:12345678', given, 60);
    given.wipe();
    const got = await store.get('0006:12345678');
    got?.wipe();
    expect((await store.get('0006:12345678'))?.revealString()).toBe('123456');
  });

  it('wipes the stored bytes on expiry', async () => {
    const store = new MemoryPinStore();
    const wipe = vi.spyOn(Secret.prototype, 'wipe');
    await store.set('0006:12345678', new Secret('123456'), 1);
    const wipedBefore = wipe.mock.instances.length;
    vi.advanceTimersByTime(1000);
    expect(wipe.mock.instances.length).toBe(wipedBefore + 1);
    const wiped = wipe.mock.instances.at(-1) as unknown as Secret;
    expect(wiped.reveal().every((b) => b === 0)).toBe(true);
    wipe.mockRestore();
  });

  it('a new PIN replaces the old one and its timer', async () => {
    const store = new MemoryPinStore();
    const expired: string[] = [];
    store.onExpire = (ident) => expired.push(ident);
    await store.set('0006:12345678', new Secret('111111'), 10);
    await store.set('0006:12345678', new Secret('222222'), 100);
    vi.advanceTimersByTime(50_000);
    expect((await store.get('0006:12345678'))?.revealString()).toBe('222222');
    expect(expired).toEqual([]);
    vi.advanceTimersByTime(50_000);
    expect(expired).toEqual(['0006:12345678']);
  });

  it('does not keep the process alive with a pending expiry', async () => {
    const store = new MemoryPinStore();
    const spy = vi.spyOn(globalThis, 'setTimeout');
    await store.set('0006:12345678', new Secret('123456'), 3600);
    const timer = spy.mock.results.at(-1)?.value as NodeJS.Timeout;
    expect(timer.hasRef()).toBe(false);
    spy.mockRestore();
  });

  it('rejects a lifetime that is not a positive number', async () => {
    const store = new MemoryPinStore();
    await expect(store.set('0006:12345678', new Secret('1'), 0)).rejects.toThrow(RangeError);
    await expect(store.set('0006:12345678', new Secret('1'), Number.NaN)).rejects.toThrow(RangeError);
  });

  it('treats idents case-insensitively, as the same card', async () => {
    const store = new MemoryPinStore();
    await store.set('0006:1234abcd', new Secret('123456'));
    expect((await store.get('0006:1234ABCD'))?.revealString()).toBe('123456');
    expect(normalizeIdent(' 6:1234abcd ')).toBe('0006:1234ABCD');
    expect(normalizeIdent('not an ident')).toBe('NOT AN IDENT');
  });

  it('clear() wipes everything', async () => {
    const store = new MemoryPinStore();
    await store.set('0006:00000001', new Secret('1'), 5);
    await store.set('0006:00000002', new Secret('2'));
    store.clear();
    expect(store.has('0006:00000001') || store.has('0006:00000002')).toBe(false);
  });
});
