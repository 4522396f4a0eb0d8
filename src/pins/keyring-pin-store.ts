import { AsyncEntry } from '@napi-rs/keyring';
import { AgentError, KeychainError } from '../errors.js';
import { getLogger, type Logger } from '../log.js';
import { Secret } from '../secret.js';
import type { CardStateConfig } from './card-state-config.js';
import { normalizeIdent, type PinStore } from './pin-store.js';

/**
 * The keychain entry openpgp-card-state uses: service "openpgp-card", account (keyring-rs "user")
 * = the card ident. On Linux keyring-rs writes a Secret Service item with the attributes
 * service=openpgp-card, username=<ident> (plus target=default and application=rust-keyring),
 * which is what either tool looks up.
 */
export const KEYCHAIN_SERVICE = 'openpgp-card';

/** Raw keychain access, one string per account, behind an interface so tests can stand in. */
export interface KeyringBackend {
  get(account: string): Promise<string | null>;
  set(account: string, secret: string): Promise<void>;
  delete(account: string): Promise<boolean>;
}

export const DEFAULT_KEYCHAIN_TIMEOUT_MS = 5000;

/** An entry never written: deleting it probes whether the keychain answers at all. */
const PROBE_SERVICE = 'openpgp-card-agent-probe';
const PROBE_ACCOUNT = 'probe';

const HINT =
  'On Linux this needs a D-Bus session (DBUS_SESSION_BUS_ADDRESS) with a Secret Service ' +
  '(gnome-keyring, KeePassXC) whose default collection is unlocked.';

/**
 * The OS keychain through @napi-rs/keyring (keyring-rs: Secret Service on Linux, Keychain on
 * macOS, Credential Manager on Windows). The calls run on libuv's thread pool (AsyncEntry), and
 * each is bounded: with no Secret Service, or a collection waiting on an unlock prompt, D-Bus may
 * not answer for a long time. Every failure becomes a KeychainError saying what to fix.
 */
export class NapiKeyringBackend implements KeyringBackend {
  constructor(
    private readonly timeoutMs = DEFAULT_KEYCHAIN_TIMEOUT_MS,
    private readonly service = KEYCHAIN_SERVICE,
  ) {}

  async get(account: string): Promise<string | null> {
    const pin = await this.call('read the PIN', (signal) => new AsyncEntry(this.service, account).getPassword(signal));
    if (pin !== null) return pin;
    // @napi-rs/keyring 2.x answers null both for "no such entry" and for "no keychain at all"
    // (no D-Bus session, no Secret Service), while set and delete do fail. Deleting an entry
    // nobody writes tells the two apart without touching anything: false when the store answers.
    await this.probe('read the PIN');
    return null;
  }

  set(account: string, secret: string): Promise<void> {
    return this.call('store the PIN', (signal) => new AsyncEntry(this.service, account).setPassword(secret, signal));
  }

  async delete(account: string): Promise<boolean> {
    const deleted = await this.call('delete the PIN', (signal) => new AsyncEntry(this.service, account).deleteCredential(signal));
    // Without a Secret Service the binding may still answer (from its Linux keyutils store):
    // make sure the keychain proper was reachable, or a copy may be left there.
    await this.probe('delete the PIN');
    return deleted;
  }

  private probe(what: string): Promise<boolean> {
    return this.call(what, (signal) => new AsyncEntry(PROBE_SERVICE, PROBE_ACCOUNT).deleteCredential(signal));
  }

  private async call<T>(what: string, op: (signal: AbortSignal) => Promise<T>): Promise<T> {
    const controller = new AbortController();
    let timer: NodeJS.Timeout | undefined;
    // The abort signal asks the native task to stop; the race makes sure we stop waiting even
    // when a blocked D-Bus call cannot notice it.
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => {
        controller.abort();
        reject(new Error(`no answer within ${this.timeoutMs} ms`));
      }, this.timeoutMs);
      timer.unref();
    });
    try {
      return await Promise.race([Promise.resolve().then(() => op(controller.signal)), timeout]);
    } catch (err) {
      throw new KeychainError(`the OS keychain could not ${what}: ${err instanceof Error ? err.message : String(err)}. ${HINT}`, { cause: err });
    } finally {
      clearTimeout(timer);
    }
  }
}

export interface KeyringPinStoreOptions {
  /** Defaults to the OS keychain (NapiKeyringBackend). */
  readonly backend?: KeyringBackend;
  /** openpgp-card-state's config: read for per-card storage, updated when a PIN is stored. */
  readonly config?: CardStateConfig;
  readonly log?: Logger;
}

/**
 * Card PINs where openpgp-card-state keeps them, so users who switch between it (or the Rust
 * openpgp-card-ssh-agent) and this agent keep their PINs:
 * - pin_storage = Keyring (or no entry, the default): the keychain entry openpgp-card/<ident>;
 * - pin_storage = Direct: the `pin` field of the card's entry in config.toml (read; dropped when
 *   the card rejects it; never written by us);
 * - Ephemeral / Pinentry: nothing stored, get() answers undefined.
 * Storing a PIN writes the keychain and records the card as Keyring in config.toml.
 */
export class KeyringPinStore implements PinStore {
  private readonly backend: KeyringBackend;
  private readonly log: Logger;

  constructor(private readonly opts: KeyringPinStoreOptions = {}) {
    this.backend = opts.backend ?? new NapiKeyringBackend();
    this.log = opts.log ?? getLogger('pins');
  }

  get config(): CardStateConfig | undefined {
    return this.opts.config;
  }

  async get(ident: string): Promise<Secret | undefined> {
    const key = normalizeIdent(ident);
    const card = await this.configCard(key);
    if (card?.pinStorage === 'Direct') return card.directPin === undefined ? undefined : new Secret(card.directPin);
    const storage = card?.pinStorage ?? (await this.defaultStorage());
    if (storage === 'Ephemeral' || storage === 'Pinentry') {
      this.log.debug({ ident: key, storage }, 'openpgp-card-state keeps no PIN for this card');
      return undefined;
    }
    const stored = await this.backend.get(key);
    return stored === null ? undefined : new Secret(stored);
  }

  /** Where get() would look for this card: 'keychain', 'config' (Direct) or 'none'. */
  async location(ident: string): Promise<'keychain' | 'config' | 'none'> {
    const card = await this.configCard(normalizeIdent(ident));
    if (card?.pinStorage === 'Direct') return card.directPin === undefined ? 'none' : 'config';
    return (await this.get(ident)) === undefined ? 'none' : 'keychain';
  }

  async set(ident: string, pin: Secret): Promise<void> {
    const key = normalizeIdent(ident);
    await this.backend.set(key, pin.revealString());
    if (this.opts.config === undefined) return;
    try {
      await this.opts.config.recordKeyring(key);
    } catch (err) {
      // The PIN is stored; openpgp-card-state finds it without the entry too (Keyring is its default).
      this.log.warn({ err: describe(err), path: this.opts.config.path }, 'PIN stored, but the card could not be recorded in the openpgp-card-state config');
    }
  }

  /** Removes the keychain entry and a Direct PIN in config.toml; true when either existed. */
  async delete(ident: string): Promise<boolean> {
    const key = normalizeIdent(ident);
    let direct = false;
    if (this.opts.config !== undefined) {
      try {
        direct = await this.opts.config.dropDirectPin(key);
      } catch (err) {
        this.log.warn({ err: describe(err), path: this.opts.config.path }, 'could not remove the PIN from the openpgp-card-state config');
      }
    }
    const keychain = await this.backend.delete(key);
    return keychain || direct;
  }

  private async configCard(key: string) {
    if (this.opts.config === undefined) return undefined;
    try {
      return await this.opts.config.card(key);
    } catch (err) {
      this.log.warn({ err: describe(err) }, 'openpgp-card-state config unreadable; using the keychain only');
      return undefined;
    }
  }

  private async defaultStorage() {
    if (this.opts.config === undefined) return 'Keyring';
    try {
      return await this.opts.config.defaultPinStorage();
    } catch {
      return 'Keyring';
    }
  }
}

function describe(err: unknown): string {
  return err instanceof AgentError || err instanceof Error ? err.message : String(err);
}
