import { Writable } from 'node:stream';
import pino from 'pino';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { createRootLogger, getLogger, setRootLogger } from '../../src/log.js';
import { DesktopNotifier, NullNotifier, RecordingNotifier, type Notification } from '../../src/notify/notifier.js';

describe('DesktopNotifier', () => {
  let lines: string[];

  beforeEach(() => {
    lines = [];
    const sink = new Writable({
      write(chunk: Buffer, _enc, cb) {
        lines.push(...chunk.toString('utf8').trim().split('\n'));
        cb();
      },
    });
    setRootLogger(createRootLogger({ defaultLevel: 'debug', targets: new Map() }, false, sink));
    vi.useFakeTimers();
  });
  afterEach(() => {
    setRootLogger(pino({ level: 'silent' }));
    vi.useRealTimers();
  });

  const logged = (): Array<Record<string, unknown>> => lines.map((l) => JSON.parse(l) as Record<string, unknown>);

  it('returns before the notification is sent, and sends it on a later turn', async () => {
    const sent: Notification[] = [];
    const n = new DesktopNotifier(getLogger('notify'), { send: (x, done) => (sent.push(x), done()) });
    n.notify({ title: 'PIN needed', message: 'run ssh-add -s 0006:12345678', id: 'pin-0006:12345678' });
    expect(sent).toEqual([]);
    await vi.advanceTimersByTimeAsync(0);
    expect(sent).toEqual([{ title: 'PIN needed', message: 'run ssh-add -s 0006:12345678', id: 'pin-0006:12345678' }]);
    expect(logged().find((l) => l['level'] === 30)).toMatchObject({ target: 'notify', title: 'PIN needed', msg: 'run ssh-add -s 0006:12345678' });
  });

  it('a sender that throws or fails is logged under notify (the first failure at warn, later ones at debug), never thrown', async () => {
    const throwing = new DesktopNotifier(getLogger('notify'), {
      send: () => {
        throw new Error('notify-send must be installed on the system.');
      },
    });
    const failing = new DesktopNotifier(getLogger('notify'), { send: (_x, done) => done(new Error('no notification daemon')) });
    expect(() => throwing.notify({ title: 't', message: 'm' })).not.toThrow();
    expect(() => failing.notify({ title: 't', message: 'm' })).not.toThrow();
    await vi.advanceTimersByTimeAsync(0);
    const warn = logged().filter((l) => l['level'] === 40);
    expect(warn.map((l) => [l['target'], l['err']])).toEqual([
      ['notify', 'notify-send must be installed on the system.'],
      ['notify', 'no notification daemon'],
    ]);
    expect(warn[0]!['msg']).toMatch(/desktop notifications cannot be shown; messages go to the log only/);
    failing.notify({ title: 't', message: 'again' });
    await vi.advanceTimersByTimeAsync(0);
    expect(logged().filter((l) => l['level'] === 40)).toHaveLength(2);
    expect(logged().filter((l) => l['level'] === 20).map((l) => l['err'])).toEqual(['no notification daemon']);
  });

  it('a sender that never answers is given up on after the timeout, and a late answer is ignored', async () => {
    let late: ((err?: Error | null) => void) | undefined;
    const n = new DesktopNotifier(getLogger('notify'), { timeoutMs: 2000, send: (_x, done) => (late = done) });
    n.notify({ title: 'Touch your card', message: 'Touch your card 0006:12345678' });
    await vi.advanceTimersByTimeAsync(1999);
    expect(logged().filter((l) => l['level'] === 20)).toEqual([]);
    await vi.advanceTimersByTimeAsync(1);
    expect(logged().filter((l) => l['level'] === 20).map((l) => l['msg'])).toEqual(['notification not confirmed in time; not waiting for it']);
    late?.(new Error('too late'));
    expect(logged().filter((l) => l['level'] === 20)).toHaveLength(1);
  });
});

describe('NullNotifier and RecordingNotifier', () => {
  it('Null shows nothing and never throws; Recording keeps notifications in order', () => {
    expect(() => new NullNotifier().notify()).not.toThrow();
    const r = new RecordingNotifier();
    r.notify({ title: 'a', message: '1' });
    r.notify({ title: 'b', message: '2', id: 'x' });
    expect(r.notifications).toEqual([
      { title: 'a', message: '1' },
      { title: 'b', message: '2', id: 'x' },
    ]);
    r.clear();
    expect(r.notifications).toEqual([]);
  });
});
