import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { RecordingNotifier } from '../../src/notify/notifier.js';
import { touchMessage, withTouchPrompt } from '../../src/notify/touch-prompt.js';

function deferred<T>(): { promise: Promise<T>; resolve: (v: T) => void; reject: (e: unknown) => void } {
  let resolve!: (v: T) => void;
  let reject!: (e: unknown) => void;
  const promise = new Promise<T>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  return { promise, resolve, reject };
}

describe('withTouchPrompt', () => {
  let notifier: RecordingNotifier;
  beforeEach(() => {
    vi.useFakeTimers();
    notifier = new RecordingNotifier();
  });
  afterEach(() => vi.useRealTimers());

  it('posts "Touch your card" once the operation has run for afterMs, and passes its result on', async () => {
    const op = deferred<string>();
    const wrapped = withTouchPrompt(op.promise, { afterMs: 500, notify: notifier, ident: '0006:12345678', host: 'github.com' });
    await vi.advanceTimersByTimeAsync(499);
    expect(notifier.notifications).toEqual([]);
    await vi.advanceTimersByTimeAsync(1);
    expect(notifier.notifications).toEqual([
      { title: 'Touch your card', message: 'Touch your card 0006:12345678 (for github.com)', id: 'touch-0006:12345678' },
    ]);
    op.resolve('signature');
    expect(await wrapped).toBe('signature');
    await vi.advanceTimersByTimeAsync(10_000);
    expect(notifier.notifications).toHaveLength(1);
  });

  it('posts nothing when the operation settles sooner, resolved or rejected', async () => {
    const ok = deferred<number>();
    const p1 = withTouchPrompt(ok.promise, { afterMs: 500, notify: notifier, ident: '0006:12345678' });
    await vi.advanceTimersByTimeAsync(100);
    ok.resolve(1);
    expect(await p1).toBe(1);
    const bad = deferred<number>();
    const p2 = withTouchPrompt(bad.promise, { afterMs: 500, notify: notifier, ident: '0006:12345678' });
    bad.reject(new Error('card removed'));
    await expect(p2).rejects.toThrow('card removed');
    await vi.advanceTimersByTimeAsync(5000);
    expect(notifier.notifications).toEqual([]);
  });

  it('defaults to 500 ms and names only the card when the host is unknown', async () => {
    const op = deferred<void>();
    const wrapped = withTouchPrompt(op.promise, { notify: notifier, ident: '000F:ABCDEF01' });
    await vi.advanceTimersByTimeAsync(500);
    expect(notifier.notifications.map((n) => n.message)).toEqual(['Touch your card 000F:ABCDEF01']);
    expect(touchMessage('000F:ABCDEF01')).toBe('Touch your card 000F:ABCDEF01');
    op.resolve();
    await wrapped;
  });

  it('a rejection after the prompt still reaches the caller', async () => {
    const op = deferred<void>();
    const wrapped = withTouchPrompt(op.promise, { afterMs: 10, notify: notifier, ident: '0006:12345678' });
    await vi.advanceTimersByTimeAsync(10);
    op.reject(new Error('6600'));
    await expect(wrapped).rejects.toThrow('6600');
    expect(notifier.notifications).toHaveLength(1);
  });
});
