import notifier from 'node-notifier';
import type { UserNotifier } from '../agent/card-key-provider.js';
import type { Logger } from '../log.js';

/**
 * Desktop notifications through node-notifier (notify-send, macOS Notification Center, Windows
 * toasts). Fire and forget: a missing or hung notification daemon never breaks or slows signing.
 */
export class DesktopNotifier implements UserNotifier {
  constructor(private readonly log: Logger) {}

  notify(n: { title: string; message: string }): void {
    try {
      notifier.notify({ title: `openpgp-card-agent: ${n.title}`, message: n.message, wait: false, timeout: 10 }, (err) => {
        if (err !== null && err !== undefined) this.log.debug({ err: err.message }, 'notification not shown');
      });
    } catch (err) {
      this.log.debug({ err }, 'notification not shown');
    }
    this.log.info({ title: n.title }, n.message);
  }
}

/** --no-notify: messages go to the log only. */
export class LogOnlyNotifier implements UserNotifier {
  constructor(private readonly log: Logger) {}

  notify(n: { title: string; message: string }): void {
    this.log.info({ title: n.title }, n.message);
  }
}
