import type { Secret } from '../secret.js';

/**
 * One place a card's User PIN can be kept, keyed by the card's ident (`0006:12345678`:
 * manufacturer and serial number in uppercase hex, as openpgp-card-state names cards).
 */
export interface PinStore {
  /** The stored PIN, or undefined when this store holds none for `ident`. */
  get(ident: string): Promise<Secret | undefined>;
  set(ident: string, pin: Secret): Promise<void>;
  /** true when a PIN was there and is gone now. */
  delete(ident: string): Promise<boolean>;
}

/** `6:1234abcd` and ` 0006:1234ABCD ` both name card `0006:1234ABCD`. */
export function normalizeIdent(ident: string): string {
  const m = /^\s*([0-9a-fA-F]{1,4}):([0-9a-fA-F]{1,8})\s*$/.exec(ident);
  if (m === null) return ident.trim().toUpperCase();
  return `${m[1]!.toUpperCase().padStart(4, '0')}:${m[2]!.toUpperCase().padStart(8, '0')}`;
}
