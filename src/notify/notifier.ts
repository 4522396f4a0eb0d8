import notifier from 'node-notifier';
import { getLogger, type Logger } from '../log.js';

export interface Notification {
  readonly title: string;
  readonly message: string;
  /** Same id = same situation: a later notification replaces an earlier one where the desktop can. */
  readonly id?: string;
}

/** Tells the user something. Never throws, never waits: signing goes on whatever happens here. */
export interface Notifier {
  notify(n: Notification): void;
}

/** Sends one desktop notification; calls `done` once shown or failed. */
export type NotificationSender = (n: Notification, done: (err?: Error | null) => void) => void;

/** node-notifier: notify-send on Linux, Notification Center on macOS, toasts on Windows. */
export const nodeNotifierSender: NotificationSender = (n, done) => {
  notifier.notify(
    {
      title: `openpgp-card-agent: ${n.title}`,
      message: n.message,
      wait: false,
      timeout: 10,
      // notify-osd / GNOME Shell replace a notification carrying the same synchronous hint.
      ...(n.id === undefined ? {} : { hint: `string:x-canonical-private-synchronous:${n.id}` }),
    },
    (err) => done(err),
  );
};

export const DEFAULT_NOTIFY_TIMEOUT_MS = 5000;

/**
 * Desktop notifications. Fire and forget: the sender runs on a later turn of the event loop
 * (node-notifier looks notify-send up synchronously on first use), a missing or hung notification
 * daemon is noticed after `timeoutMs` and only logged, at debug under target notify. The message
 * is also logged at info, for users without a desktop.
 */
export class DesktopNotifier implements Notifier {
  private readonly send: NotificationSender;
  private readonly timeoutMs: number;
  private warnedFailure = false;

  constructor(
    private readonly log: Logger = getLogger('notify'),
    opts: { send?: NotificationSender; timeoutMs?: number } = {},
  ) {
    this.send = opts.send ?? nodeNotifierSender;
    this.timeoutMs = opts.timeoutMs ?? DEFAULT_NOTIFY_TIMEOUT_MS;
  }

  notify(n: Notification): void {
    try {
      this.log.info({ title: n.title, ...(n.id === undefined ? {} : { id: n.id }) }, n.message);
    } catch {
      // A broken log stream must not break signing either.
    }
    setImmediate(() => this.post(n));
  }

  private post(n: Notification): void {
    let settled = false;
    const timer = setTimeout(() => {
      if (settled) return;
      settled = true;
      this.log.debug({ title: n.title, timeoutMs: this.timeoutMs }, 'notification not confirmed in time; not waiting for it');
    }, this.timeoutMs);
    timer.unref();
    const done = (err?: Error | null): void => {
      clearTimeout(timer);
      if (settled) return;
      settled = true;
      if (err !== null && err !== undefined) {
        // The user must know once that messages will not pop up; after that, only at debug.
        if (!this.warnedFailure) this.log.warn({ title: n.title, err: err.message }, 'desktop notifications cannot be shown; messages go to the log only (is a notification daemon running?)');
        else this.log.debug({ title: n.title, err: err.message }, 'notification not shown');
        this.warnedFailure = true;
      }
    };
    try {
      this.send(n, done);
    } catch (err) {
      done(err instanceof Error ? err : new Error(String(err)));
    }
  }
}

/** --no-notify: nothing is shown. */
export class NullNotifier implements Notifier {
  notify(): void {}
}

/** --no-notify, keeping the messages in the log (at info). */
export class LogOnlyNotifier implements Notifier {
  constructor(private readonly log: Logger = getLogger('notify')) {}

  notify(n: Notification): void {
    this.log.info({ title: n.title }, n.message);
  }
}

/** For tests: keeps every notification, in order. */
export class RecordingNotifier implements Notifier {
  readonly notifications: Notification[] = [];

  notify(n: Notification): void {
    this.notifications.push({ ...n });
  }

  clear(): void {
    this.notifications.length = 0;
  }
}
