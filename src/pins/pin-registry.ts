import { KeychainError } from '../errors.js';
import { getLogger, type Logger } from '../log.js';
import type { Notifier } from '../notify/notifier.js';
import type { Secret } from '../secret.js';
import { MemoryPinStore } from './memory-pin-store.js';
import { normalizeIdent, type PinStore } from './pin-store.js';

/**
 * Where a card's PIN would come from, for `status`:
 * - 'memory': given with `ssh-add -s -t`, until its lifetime ends;
 * - 'memory-until-exit': held in memory for the agent's life (no keychain was reachable when it
 *   was given, or the card's openpgp-card-state storage is Pinentry, or preset);
 * - 'keychain' | 'config' (a Direct PIN) | 'kernel-keyring' (an Ephemeral PIN): stored;
 * - 'known-bad': the card rejected the PIN we had; nothing is sent until a new one is given;
 * - 'none': nothing known (the agent will have to ask).
 */
export type PinLocation = 'memory' | 'memory-until-exit' | 'keychain' | 'config' | 'kernel-keyring' | 'none' | 'known-bad';

/** Everything the registry knows about one card, for `status` (no PIN in it). */
export interface PinStatus {
  readonly location: PinLocation;
  /** Seconds left for an `ssh-add -t` PIN. */
  readonly secondsLeft?: number | undefined;
  /**
   * A keychain copy that `ssh-add -e` (or `-t`) could not delete: not read again until the next
   * successful store. The reason is the keychain's error.
   */
  readonly staleKeychainCopy?: string | undefined;
  /** The store could not be asked (e.g. the keychain is unreachable): its error. */
  readonly storeError?: string | undefined;
}

/** The persistent store may say where it found a PIN, and may answer where a new one went (KeyringPinStore does). */
interface Locating {
  location(ident: string): Promise<'keychain' | 'config' | 'kernel-keyring' | 'none'>;
}

interface Storing {
  store(ident: string, pin: Secret): Promise<'keychain' | 'config' | 'kernel-keyring' | 'none'>;
}

function isLocating(s: PinStore): s is PinStore & Locating {
  return typeof (s as Partial<Locating>).location === 'function';
}

function isStoring(s: PinStore): s is PinStore & Storing {
  return typeof (s as Partial<Storing>).store === 'function';
}

export interface PinRegistryOptions {
  /** Where PINs without a lifetime go: the OS keychain (KeyringPinStore) in the daemon. */
  readonly persistent: PinStore;
  readonly memory?: MemoryPinStore;
  readonly log?: Logger;
  /** Told when a PIN can only be kept in memory (no keychain). */
  readonly notifier?: Notifier;
}

/** What set() did with a PIN. */
export type SetResult = 'memory' | 'memory-until-exit' | 'keychain' | 'config' | 'kernel-keyring';

export interface KeepOptions {
  /**
   * Keep the PIN in memory for the agent's life and store it nowhere (a PIN typed into a prompt
   * when the user did not ask to store it).
   */
  readonly memoryOnly?: boolean;
}

/**
 * Every PIN the agent knows, in one place. Ownership (see src/secret.ts): PINs passed in are
 * lent (the registry keeps its own copies); PINs handed out are fresh copies the caller wipes.
 *
 * Lookup order: memory (an `ssh-add -s -t` PIN, or one kept for the agent's life), then the
 * card's persistent store (keychain, Direct config PIN, Ephemeral kernel-keyring PIN).
 * - A PIN the card rejected makes the card "known bad": nothing is handed out for it until the
 *   user gives a new one (set) or forgets it (forget), whatever the stores still hold.
 * - A keychain copy that could not be deleted when the user asked (forget, or set with a
 *   lifetime) is "stale": never read again until a store succeeds. No stale read.
 * - No keychain reachable: the PIN is kept in memory for the agent's life, and the user is told
 *   (log at warn, and the notifier).
 */
export class PinRegistry {
  readonly memory: MemoryPinStore;
  private readonly persistent: PinStore;
  private readonly bad = new Set<string>();
  /** ident → why the keychain copy could not be removed. */
  private readonly stale = new Map<string, string>();
  private readonly log: Logger;
  private readonly notifier: Notifier | undefined;

  constructor(opts: PinRegistryOptions) {
    this.persistent = opts.persistent;
    this.memory = opts.memory ?? new MemoryPinStore();
    this.log = opts.log ?? getLogger('pins');
    this.notifier = opts.notifier;
  }

  /** Set by the agent: a PIN's lifetime (ssh-add -t) ran out. */
  set onExpire(cb: ((ident: string) => void) | undefined) {
    this.memory.onExpire = cb;
  }

  get onExpire(): ((ident: string) => void) | undefined {
    return this.memory.onExpire;
  }

  /**
   * A PIN worth sending to the card (a fresh Secret the caller wipes), or undefined when none is
   * known, the card is known bad, or the only copy is a stale keychain one. Throws
   * KeychainError when only the keychain could answer and it cannot be reached.
   */
  async get(ident: string): Promise<Secret | undefined> {
    const key = normalizeIdent(ident);
    if (this.bad.has(key)) return undefined;
    const mem = await this.memory.get(key);
    if (mem !== undefined) return mem;
    if (this.stale.has(key)) return undefined;
    return this.persistent.get(key);
  }

  /**
   * Keeps a PIN the card just accepted (lent: the registry copies it). With `lifetimeSeconds`:
   * in memory for that long (and an older stored copy is removed, so nothing outlives it).
   * Without: in the card's persistent store, or — no keychain reachable, or a store that keeps
   * nothing (Pinentry) — in memory for the agent's life, said at warn level and to the notifier.
   * Clears the known-bad mark. Never throws for an unreachable keychain.
   */
  async set(ident: string, pin: Secret, opts: { lifetimeSeconds?: number | undefined } & KeepOptions = {}): Promise<SetResult> {
    const key = normalizeIdent(ident);
    this.bad.delete(key);
    if (opts.memoryOnly === true && opts.lifetimeSeconds === undefined) {
      await this.keepUntilExit(key, pin);
      return 'memory-until-exit';
    }
    if (opts.lifetimeSeconds !== undefined) {
      await this.memory.set(key, pin, opts.lifetimeSeconds);
      // A lifetime means "forget it after that": a stored copy would outlive it.
      const failed = await this.deleteStored(key);
      if (failed !== undefined) this.log.warn({ ident: key, err: failed.message }, 'could not remove an older stored PIN; it will not be read again until the next ssh-add -s');
      return 'memory';
    }
    try {
      const where = isStoring(this.persistent) ? await this.persistent.store(key, pin) : (await this.persistent.set(key, pin), 'keychain' as const);
      this.stale.delete(key);
      if (where === 'none') {
        await this.keepUntilExit(key, pin);
        this.log.info({ ident: key }, 'PIN kept in memory until the agent stops: openpgp-card-state keeps no PIN for this card (Pinentry)');
        return 'memory-until-exit';
      }
      await this.memory.delete(key);
      return where;
    } catch (err) {
      if (!(err instanceof KeychainError)) throw err;
      await this.keepUntilExit(key, pin);
      const message = `the PIN of card ${key} is kept in memory until the agent stops: the keychain is unavailable (${err.message})`;
      this.log.warn({ ident: key, err: err.message }, 'PIN kept in memory until the agent stops: the keychain is unavailable');
      this.notifier?.notify({ title: 'PIN kept in memory only', message, id: `pin-memory-${key}` });
      return 'memory-until-exit';
    }
  }

  /** A PIN known without any store (the simulator's): memory, for the agent's life. */
  async preset(ident: string, pin: Secret): Promise<void> {
    await this.keepUntilExit(normalizeIdent(ident), pin);
  }

  /** A memory PIN without a lifetime is one kept for the agent's life: status() tells them apart by that. */
  private async keepUntilExit(key: string, pin: Secret): Promise<void> {
    await this.memory.set(key, pin);
  }

  /**
   * The card rejected the PIN we sent: mark the card bad and remove the PIN from every store, so
   * it is never sent again. Store failures are logged: the mark alone keeps it from being sent
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

  /**
   * ssh-add -e: forgets the memory copy first, then the stored one, and the known-bad mark.
   * When the stored copy cannot be deleted this throws (KeychainError with the store's reason),
   * and that copy is not read again until the next successful set().
   */
  async forget(ident: string): Promise<void> {
    const key = normalizeIdent(ident);
    this.bad.delete(key);
    await this.memory.delete(key);
    const failed = await this.deleteStored(key);
    if (failed !== undefined) throw new KeychainError(`the PIN was forgotten by the agent, but the stored copy could not be deleted: ${failed.message}`, { cause: failed });
  }

  /**
   * Deletes the stored copy. When that fails, the copy is marked stale (not read again until a
   * store succeeds) and the error is returned.
   */
  private async deleteStored(key: string): Promise<Error | undefined> {
    try {
      await this.persistent.delete(key);
      this.stale.delete(key);
      return undefined;
    } catch (err) {
      this.stale.set(key, (err as Error).message);
      return err as Error;
    }
  }

  /** ssh-add -D: every memory PIN is forgotten (stores untouched). The idents whose PIN was dropped. */
  forgetAllMemory(): string[] {
    const idents = this.memory.idents();
    this.memory.clear();
    return idents;
  }

  async locate(ident: string): Promise<PinLocation> {
    return (await this.status(ident)).location;
  }

  async status(ident: string): Promise<PinStatus> {
    const key = normalizeIdent(ident);
    const staleKeychainCopy = this.stale.get(key);
    if (this.bad.has(key)) return { location: 'known-bad', staleKeychainCopy };
    const left = this.memory.remaining(key);
    if (left === 'until-deleted') return { location: 'memory-until-exit', staleKeychainCopy };
    if (left !== undefined) return { location: 'memory', secondsLeft: left, staleKeychainCopy };
    if (staleKeychainCopy !== undefined) return { location: 'none', staleKeychainCopy };
    try {
      if (isLocating(this.persistent)) return { location: await this.persistent.location(key) };
      const pin = await this.persistent.get(key);
      pin?.wipe();
      return { location: pin === undefined ? 'none' : 'keychain' };
    } catch (err) {
      return { location: 'none', storeError: (err as Error).message };
    }
  }

  /** Agent shutdown: wipes the memory PINs. */
  close(): void {
    this.memory.clear();
  }
}
