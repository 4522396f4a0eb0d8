/**
 * The "never block a card" rules, as pure functions the agent calls around VERIFY (OpenPGP card
 * 3.4.1 §7.2.2) and the user-facing messages that go with them. Nothing here touches a card,
 * a store or a clock.
 *
 * The rules:
 * 1. A stored PIN is never sent when PW1's retry counter is ≤ 1: only a PIN the user just typed
 *    may use the last try (a wrong stored PIN would block the card without the user doing anything).
 * 2. A PIN the card rejected (63Cx) is removed from the keychain and the card is marked bad; the
 *    user is told how many tries are left and how to give a new PIN.
 * 3. 6983 (blocked): nothing is sent; the message names the ways to reset.
 * 4. No PIN stored: the message gives the exact `ssh-add -s <ident>` command.
 */

import { triesLeft } from '../card/iso7816/status.js';

/** Below this many tries a stored PIN is not sent. */
export const MIN_RETRIES_FOR_STORED_PIN = 2;

export type PinOrigin = 'stored' | 'typed';

/** The command that gives the agent a card's PIN. */
export function sshAddCommand(ident: string): string {
  return `ssh-add -s ${ident}`;
}

export function pinNeededMessage(ident: string): string {
  return `card ${ident} needs its PIN: run  ${sshAddCommand(ident)}`;
}

export function lastTryMessage(ident: string, retries: number): string {
  return (
    `card ${ident} has ${triesLeft(retries)}; the agent will not risk it with a stored PIN. ` +
    `Type the PIN yourself: run  ${sshAddCommand(ident)}`
  );
}

export function knownBadMessage(ident: string): string {
  return `the stored PIN for card ${ident} was rejected by the card and will not be sent again: run  ${sshAddCommand(ident)}`;
}

export function wrongPinMessage(ident: string, retriesLeft: number | undefined, origin: PinOrigin): string {
  const left = retriesLeft === undefined ? 'the card did not say how many tries are left' : triesLeft(retriesLeft);
  if (origin === 'typed') return `wrong PIN for card ${ident}; ${left}`;
  return `the stored PIN for card ${ident} is wrong; ${left}. It was removed and will not be tried again: run  ${sshAddCommand(ident)}`;
}

export function blockedMessage(ident: string): string {
  return (
    `the PIN of card ${ident} is blocked. Unblock it with the Reset Code (gpg --card-edit, then "unblock"), ` +
    `or with the Admin PIN (gpg --card-edit, "admin", then "passwd" and "2" to unblock the PIN), ` +
    `or factory-reset the card (gpg --card-edit, "admin", "factory-reset"; this erases its keys)`
  );
}

export type StoredPinDecision =
  | { readonly action: 'verify' }
  | { readonly action: 'refuse'; readonly reason: 'no-pin' | 'known-bad' | 'last-try' | 'blocked'; readonly title: string; readonly message: string };

/**
 * May the agent send a stored PIN now? `retries` is PW1's retry counter (from the PW status
 * bytes, DO C4), read without trying a PIN.
 */
export function decideStoredPin(input: { ident: string; hasPin: boolean; knownBad: boolean; retries: number }): StoredPinDecision {
  const { ident, retries } = input;
  if (retries <= 0) return { action: 'refuse', reason: 'blocked', title: 'Card blocked', message: blockedMessage(ident) };
  if (input.knownBad) return { action: 'refuse', reason: 'known-bad', title: 'PIN needed', message: knownBadMessage(ident) };
  if (!input.hasPin) return { action: 'refuse', reason: 'no-pin', title: 'PIN needed', message: pinNeededMessage(ident) };
  if (retries < MIN_RETRIES_FOR_STORED_PIN) return { action: 'refuse', reason: 'last-try', title: 'PIN not sent', message: lastTryMessage(ident, retries) };
  return { action: 'verify' };
}
