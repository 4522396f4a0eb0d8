import type { Notifier } from './notifier.js';

export interface TouchPromptOptions {
  /** How long the operation may run before the prompt is posted. */
  readonly afterMs?: number;
  readonly notify: Notifier;
  readonly ident: string;
  /** The host the signature is for, when known (session-bind). */
  readonly host?: string | undefined;
}

export const DEFAULT_TOUCH_PROMPT_AFTER_MS = 500;

export function touchMessage(ident: string, host?: string): string {
  return `Touch your card ${ident}${host === undefined ? '' : ` (for ${host})`}`;
}

/**
 * A card with touch policy on holds the signature until its button is pressed, with no word to
 * the host. If `promise` has not settled within `afterMs`, post "Touch your card <ident>"; a
 * signature that comes back sooner (touch off, or cached) posts nothing. Resolves or rejects as
 * `promise` does; the timer is unref'd and cleared once it settles.
 */
export function withTouchPrompt<T>(promise: Promise<T>, opts: TouchPromptOptions): Promise<T> {
  const timer = setTimeout(() => {
    opts.notify.notify({ title: 'Touch your card', message: touchMessage(opts.ident, opts.host), id: `touch-${opts.ident}` });
  }, opts.afterMs ?? DEFAULT_TOUCH_PROMPT_AFTER_MS);
  timer.unref();
  return promise.finally(() => clearTimeout(timer));
}
