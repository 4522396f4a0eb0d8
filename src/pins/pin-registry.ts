import { KeychainError } from '../errors.js';
import { getLogger, type Logger } from '../log.js';
import type { Secret } from '../secret.js';
import { MemoryPinStore } from './memory-pin-store.js';
import { normalizeIdent, type PinStore } from './pin-store.js';

/** Where a card's PIN would come from, for `status`. */
export type PinLocation = 'memory' | 'keychain' | 'config' | 'none' | 'known-bad';

/** The persistent store may also say where it found a PIN (KeyringPinStore does). */
interface Locating {
  location(ident: string): Promise<'keychain' | 'config' | 'none'>;
}

function isLocating(s: PinStore): s is PinStore & Locating {
  return typeof (s as Partial<Locating>).location === 'function';
}

export interface PinRegistryOptions {
  /** Where PINs without a lifetime go: the OS keychain (KeyringPinStore) in the daemon. */
  readonly persistent: PinStore;
  readonly memory?: MemoryPinStore;
  readonly log?: Logger;
}

/**
 * Every PIN the agent knows, in one place:
 * - PINs with a lifetime (ssh-add -s -t) live in memory only and are looked at first;
 * - other PINs live in the persistent store (the OS keychain, shared with openpgp-card-state);
 *   when it is unreachable they are kept in memory until the agent stops, and the caller is told;
 * - a PIN the card rejected makes the card "known bad": no PIN is handed out for it again until
 *   the user gives a new one (set) or forgets it (forget), whatever the stores still hold.
 */
export class PinRegistry {
  readonly memory: MemoryPinStore;
  private readonly persistent: PinStore;
  private readonly bad = new Set<string>();
  private readonly log: Logger;

  constructor(opts: PinRegistryOptions) {
    this.persistent = opts.persistent;
    this.memory = opts.memory ?? new MemoryPinStore();
    this.log = opts.log ?? getLogger('pins');
  }

  /** Set by the agent: a PIN's lifetime (ssh-add -t) ran out. */
  set onExpire(cb: ((ident: string) => void) | undefined) {
    this.memory.onExpire = cb;
  }

  get onExpire(): ((ident: string) => void) | undefined {
    return this.memory.onExpire;
  }

  /**
   * A PIN worth sending to the card: undefined when none is known or the card is known bad.
   * Throws KeychainError when only the keychain could answer and it cannot be reached.
   */
  async get(ident: string): Promise<Secret | undefined> {
    const key = normalizeIdent(ident);
    if (this.bad.has(key)) return undefined;
    return (await this.memory.get(key)) ?? (await this.persistent.get(key));
  }

  /**
   * Keeps a PIN the card just accepted: in memory for `lifetimeSeconds` when given (and then not
   * in the keychain, where an older copy is removed), else in the keychain. Clears the known-bad
   * mark. Answers where the PIN went: 'memory' also when the keychain was unreachable.
   */
  async set(ident: string, pin: Secret, opts: { lifetimeSeconds?: number | undefined } = {}): Promise<'memory' | 'keychain'> {
    const key = normalizeIdent(ident);
    this.bad.delete(key);
    if (opts.lifetimeSeconds !== undefined) {
      await this.memory.set(key, pin, opts.lifetimeSeconds);
      // A lifetime means "forget it after that": a keychain copy would outlive it.
      await this.persistent.delete(key).catch((err: unknown) => {
        this.log.debug({ ident: key, err: (err as Error).message }, 'no keychain to remove an older PIN from');
      });
      return 'memory';
    }
    await this.memory.delete(key);
    try {
      await this.persistent.set(key, pin);
      return 'keychain';
    } catch (err) {
      if (!(err instanceof KeychainError)) throw err;
      await this.memory.set(key, pin);
      this.log.warn({ ident: key, err: err.message }, 'PIN kept in memory until the agent stops: the keychain is unavailable');
      return 'memory';
    }
  }

  /**
   * The card rejected the PIN we sent: mark the card bad and remove the PIN from every store, so
   * it is never sent again. Keychain failures are logged: the mark alone keeps it from being sent
   * by this process.
   */
  async markBad(ident: string): Promise<void> {
    const key = normalizeIdent(ident);
    this.bad.add(key);
    await this.memory.delete(key);
    try {
      await this.persistent.delete(key);
    } catch (err) {
      this.log.warn({ ident: key, err: (err as Error).message }, 'could not remove the rejected PIN from the keychain; it is marked bad and will not be sent again by this agent');
    }
  }

  isKnownBad(ident: string): boolean {
    return this.bad.has(normalizeIdent(ident));
  }

  /** ssh-add -e: removes the PIN from memory and the keychain, and the known-bad mark. */
  async forget(ident: string): Promise<void> {
    const key = normalizeIdent(ident);
    this.bad.delete(key);
    await this.memory.delete(key);
    await this.persistent.delete(key);
  }

  async locate(ident: string): Promise<PinLocation> {
    const key = normalizeIdent(ident);
    if (this.bad.has(key)) return 'known-bad';
    if (this.memory.has(key)) return 'memory';
    if (isLocating(this.persistent)) return this.persistent.location(key);
    return (await this.persistent.get(key)) === undefined ? 'none' : 'keychain';
  }

  /** Agent shutdown: wipes the memory PINs. */
  close(): void {
    this.memory.clear();
  }
}
