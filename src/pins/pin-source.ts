import type { Secret } from '../secret.js';
import type { KeepOptions, PinLocation, PinStatus, SetResult } from './pin-registry.js';

/**
 * The port the card key provider uses for PINs (KeychainPins implements it). Ownership follows
 * src/secret.ts: a Secret passed in is lent (the implementation copies what it keeps); a Secret
 * returned is the caller's to wipe.
 */
export interface PinSource {
  /** A PIN worth trying for this card; undefined when none is known, the card is known bad, or the only copy is stale. */
  get(ident: string): Promise<Secret | undefined>;
  /**
   * The card accepted `pin` (ssh-add -s, or a prompt): keep it, in memory only for
   * `lifetimeSeconds` when given. Answers where it went ('memory-until-exit' when no keychain
   * was reachable: the user has been told). Never fails for an unreachable keychain.
   */
  keep(ident: string, pin: Secret, lifetimeSeconds: number | undefined, opts?: KeepOptions): Promise<SetResult>;
  /** The card rejected the PIN we sent: never send it again (until remember/forget). */
  rejected(ident: string): Promise<void>;
  /** ssh-add -e: memory first, then the stored copy; throws KeychainError (with the reason) when that cannot be deleted. */
  forget(ident: string): Promise<void>;
  /** ssh-add -D: forget every memory PIN (stores untouched); the idents whose PIN was dropped. */
  forgetAllMemory(): string[];
  isKnownBad(ident: string): boolean;
  locate(ident: string): Promise<PinLocation>;
  status(ident: string): Promise<PinStatus>;
  /** openpgp-card-state's nickname for the card, for prompts and status. */
  nickname(ident: string): Promise<string | undefined>;
  /** Set by the provider: a PIN's lifetime (ssh-add -t) ran out. */
  onExpire?: ((ident: string) => void) | undefined;
}
