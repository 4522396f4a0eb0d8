import type { Secret } from '../secret.js';

/**
 * The ports the agent's card provider calls out through. src/pins and src/notify implement them;
 * they import this file, never the provider's.
 */

/** Where card PINs come from (the keychain facade in src/pins implements it). */
export interface PinSource {
  /** A PIN worth trying for this card; undefined when none is stored or the stored one is known bad. */
  get(ident: string): Promise<Secret | undefined>;
  /** The card accepted `pin` for ssh-add -s: keep it (in memory only, for `lifetimeSeconds`, when given). */
  remember(ident: string, pin: Secret, lifetimeSeconds: number | undefined): Promise<void>;
  /** The card rejected the stored PIN: never send it again. */
  rejected(ident: string): Promise<void>;
  /** ssh-add -e: forget every copy. */
  forget(ident: string): Promise<void>;
  /** ssh-add -D: forget the PINs held in memory (the keychain keeps its copies). */
  forgetMemory?(): Promise<void>;
  /** Set by the provider: a PIN's lifetime (ssh-add -t) ran out. */
  onExpire?: ((ident: string) => void) | undefined;
}

/** Messages for the user (desktop notification and log). */
export interface UserNotifier {
  notify(n: { title: string; message: string }): void;
}
