import { AsyncEntry } from '@napi-rs/keyring';
import { AgentError, KeychainError } from '../errors.js';
import { getLogger, type Logger } from '../log.js';
import { addKey, invalidateKey, readUserKey, searchKey } from '../os/kernel-keyring.js';
import { Secret, secretBytes } from '../secret.js';
import { ephemeralKeyDescription, type CardConfig, type CardStateConfig } from './card-state-config.js';
import { SecretServiceClient } from './dbus/secret-service.js';
import { normalizeIdent, type PinStore } from './pin-store.js';

/**
 * The keychain entry openpgp-card-state (0.4, keyring-rs 3.6) writes and reads for a card:
 * service "openpgp-card", user = the card's ident.
 * - Linux/BSD Secret Service: an item in the default collection with the attributes
 *   service=openpgp-card, username=<ident>, target=default, application=rust-keyring, labelled
 *   `<ident>@openpgp-card:default` (keyring-rs appends " (keyring v3.6.3)"; labels are not
 *   searched). Looked up by target+service+username in every collection, then, when nothing
 *   matches, by service+username in the default collection (items without a target: keyring v1,
 *   secret-tool, and earlier versions of this agent).
 * - macOS: a generic password, service "openpgp-card", account = ident.
 * - Windows: a generic credential, TargetName `<ident>.openpgp-card`, UserName = ident.
 */
export const KEYCHAIN_SERVICE = 'openpgp-card';

export function secretServiceAttributes(ident: string): Record<string, string> {
  return { service: KEYCHAIN_SERVICE, username: ident, target: 'default', application: 'rust-keyring' };
}

export function secretServiceLabel(ident: string): string {
  return `${ident}@${KEYCHAIN_SERVICE}:default`;
}

/** Raw keychain access, one PIN per account (card ident), behind an interface so tests can stand in. */
export interface KeyringBackend {
  /** The PIN openpgp-card-state would read for this account (a Secret the caller owns), or null. */
  get(account: string): Promise<Secret | null>;
  /** Stores `pin` (lent: not kept) as the one entry for this account, removing other matches. */
  set(account: string, pin: Secret): Promise<void>;
  /** Removes every entry either tool would read for this account; true when one was there. */
  delete(account: string): Promise<boolean>;
}

export const DEFAULT_KEYCHAIN_TIMEOUT_MS = 5000;

const HINT =
  'On Linux this needs a D-Bus session (DBUS_SESSION_BUS_ADDRESS) with a Secret Service ' +
  '(gnome-keyring, KeePassXC) whose default collection is unlocked.';

function keychainError(what: string, err: unknown): KeychainError {
  if (err instanceof KeychainError) return err;
  return new KeychainError(`the OS keychain could not ${what}: ${err instanceof Error ? err.message : String(err)}. ${HINT}`, { cause: err });
}

/** Runs `op`, giving up after `timeoutMs` (then `onTimeout` cleans up). Errors become KeychainError. */
async function bounded<T>(what: string, timeoutMs: number, op: () => Promise<T>, onTimeout: () => void = () => undefined): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => {
      onTimeout();
      reject(new Error(`no answer within ${timeoutMs} ms`));
    }, timeoutMs);
    timer.unref();
  });
  try {
    return await Promise.race([Promise.resolve().then(op), timeout]);
  } catch (err) {
    throw keychainError(what, err);
  } finally {
    clearTimeout(timer);
  }
}

/**
 * The Secret Service over our own D-Bus client (src/pins/dbus). Why not @napi-rs/keyring here:
 * its 2.x builds on keyring-core 1 / dbus-secret-service-keyring-store, which writes only
 * service+username (+target when asked) with its own label, never `application`, has no
 * fallback to items without a target, and fails every read, write and delete with "Ambiguous"
 * as soon as two items match, with no way to pick one or remove the others. Our client does
 * the lookups keyring-rs 3 does, reads the one it would read, and collapses duplicates on
 * store. It also keeps the PIN as bytes end to end (the binding takes and returns strings).
 * One connection per operation: PINs are read only when a card asks (6982), not per signature.
 */
export class SecretServiceBackend implements KeyringBackend {
  constructor(
    private readonly env: NodeJS.ProcessEnv = process.env,
    private readonly timeoutMs = DEFAULT_KEYCHAIN_TIMEOUT_MS,
    private readonly log: Logger = getLogger('pins'),
  ) {}

  get(account: string): Promise<Secret | null> {
    return this.session('read the PIN', async (ss) => {
      const item = await this.pick(ss, account);
      if (item === undefined) return null;
      if (await ss.isLocked(item, 'org.freedesktop.Secret.Item')) await ss.unlock([item]);
      const bytes = await ss.getSecret(item);
      try {
        return new Secret(bytes);
      } finally {
        bytes.fill(0);
      }
    });
  }

  set(account: string, pin: Secret): Promise<void> {
    return this.session('store the PIN', async (ss) => {
      const collection = await ss.defaultCollection();
      if (await ss.isLocked(collection, 'org.freedesktop.Secret.Collection')) await ss.unlock([collection]);
      const item = await pin.use((bytes) => ss.createItem(collection, secretServiceLabel(account), secretServiceAttributes(account), bytes));
      // The item openpgp-card-state reads is now ours: others for this card would make both
      // tools' lookups ambiguous (or shadow ours), so they go.
      const others = (await this.matching(ss, account)).filter((p) => p !== item);
      for (const p of others) await ss.deleteItem(p);
      if (others.length > 0) this.log.info({ ident: account, removed: others.length }, 'keychain: other entries for this card removed, one entry left');
    });
  }

  delete(account: string): Promise<boolean> {
    return this.session('delete the PIN', async (ss) => {
      const items = await this.matching(ss, account);
      for (const p of items) await ss.deleteItem(p);
      return items.length > 0;
    });
  }

  /** The item keyring-rs 3 would read: target+service+username anywhere, else service+username in the default collection. */
  private async pick(ss: SecretServiceClient, account: string): Promise<string | undefined> {
    const attrs = secretServiceAttributes(account);
    const found = await ss.search({ target: attrs['target']!, service: attrs['service']!, username: account });
    let items = [...found.unlocked, ...found.locked];
    if (items.length === 0) {
      const collection = await ss.defaultCollection().catch(() => undefined);
      if (collection !== undefined) items = await ss.searchCollection(collection, { service: KEYCHAIN_SERVICE, username: account });
    }
    if (items.length <= 1) return items[0];
    // openpgp-card-state gives up here (keyring's Ambiguous error); we read the newest, which
    // is the last PIN stored, and the next store leaves a single entry.
    const infos = await Promise.all(items.map((p) => ss.info(p)));
    infos.sort((a, b) => b.modified - a.modified);
    this.log.warn({ ident: account, entries: items.length }, 'keychain: several entries for this card; reading the newest (the next ssh-add -s leaves one)');
    return infos[0]!.path;
  }

  /** Every item for this card that either tool would read: no target, or target "default". */
  private async matching(ss: SecretServiceClient, account: string): Promise<string[]> {
    const found = await ss.search({ service: KEYCHAIN_SERVICE, username: account });
    const out: string[] = [];
    for (const p of [...found.unlocked, ...found.locked]) {
      const target = (await ss.info(p)).attributes['target'];
      if (target === undefined || target === 'default') out.push(p);
    }
    return out;
  }

  private async session<T>(what: string, op: (ss: SecretServiceClient) => Promise<T>): Promise<T> {
    const controller = new AbortController();
    return bounded(
      what,
      this.timeoutMs,
      async () => {
        const client = await SecretServiceClient.open(this.env, this.timeoutMs, controller.signal);
        try {
          return await op(client);
        } finally {
          client.close();
        }
      },
      () => controller.abort(),
    );
  }
}

/**
 * macOS Keychain and Windows Credential Manager through @napi-rs/keyring (keyring-core), whose
 * entries there are the ones keyring-rs 3 makes for Entry::new("openpgp-card", ident).
 * macOS: bytes in and out (getSecret/setSecret). Windows: keyring-rs stores passwords as
 * UTF-16, so the PIN goes through setPassword/getPassword as a string (the binding's one way).
 */
export class NapiKeyringBackend implements KeyringBackend {
  constructor(
    private readonly timeoutMs = DEFAULT_KEYCHAIN_TIMEOUT_MS,
    private readonly platform: NodeJS.Platform = process.platform,
  ) {}

  get(account: string): Promise<Secret | null> {
    return this.call('read the PIN', async (signal) => {
      const entry = new AsyncEntry(KEYCHAIN_SERVICE, account);
      if (this.platform === 'win32') {
        const pin = await entry.getPassword(signal);
        return pin === null ? null : new Secret(pin);
      }
      const bytes = await entry.getSecret(signal);
      if (bytes === null) return null;
      // Through off-heap bytes, zeroed after: no array of the PIN left on the heap.
      const raw = secretBytes(bytes.length);
      raw.set(bytes);
      bytes.fill(0);
      try {
        return new Secret(raw);
      } finally {
        raw.fill(0);
      }
    });
  }

  set(account: string, pin: Secret): Promise<void> {
    return this.call('store the PIN', async (signal) => {
      const entry = new AsyncEntry(KEYCHAIN_SERVICE, account);
      if (this.platform === 'win32') return entry.setPassword(pin.revealString(), signal);
      await pin.use((bytes) => entry.setSecret(bytes, signal));
    });
  }

  delete(account: string): Promise<boolean> {
    return this.call('delete the PIN', (signal) => new AsyncEntry(KEYCHAIN_SERVICE, account).deleteCredential(signal));
  }

  private call<T>(what: string, op: (signal: AbortSignal) => Promise<T>): Promise<T> {
    const controller = new AbortController();
    return bounded(what, this.timeoutMs, () => op(controller.signal), () => controller.abort());
  }
}

/** The keychain of this OS: the Secret Service on Linux and the BSDs, the binding elsewhere. */
export class OsKeychain implements KeyringBackend {
  private readonly backend: KeyringBackend;

  constructor(env: NodeJS.ProcessEnv = process.env, opts: { timeoutMs?: number; platform?: NodeJS.Platform; log?: Logger } = {}) {
    const platform = opts.platform ?? process.platform;
    const timeoutMs = opts.timeoutMs ?? DEFAULT_KEYCHAIN_TIMEOUT_MS;
    this.backend =
      platform === 'darwin' || platform === 'win32' ? new NapiKeyringBackend(timeoutMs, platform) : new SecretServiceBackend(env, timeoutMs, opts.log);
  }

  get(account: string): Promise<Secret | null> {
    return this.backend.get(account);
  }

  set(account: string, pin: Secret): Promise<void> {
    return this.backend.set(account, pin);
  }

  delete(account: string): Promise<boolean> {
    return this.backend.delete(account);
  }
}

/** openpgp-card-state's Ephemeral PINs: the kernel user keyring, behind an interface for tests. */
export interface EphemeralPins {
  /** The PIN (a Secret the caller owns), or undefined when none is there or it expired. */
  read(ident: string): Promise<Secret | undefined>;
  /** Keeps the PIN for `seconds`, as openpgp-card-state's set_pin does for an Ephemeral card. */
  write(ident: string, pin: Secret, seconds: number): Promise<void>;
  remove(ident: string): Promise<boolean>;
}

/** EphemeralPins in the Linux kernel user keyring, under `keyring-rs:<ident>@openpgp-card`. */
export class KernelEphemeralPins implements EphemeralPins {
  async read(ident: string): Promise<Secret | undefined> {
    if (process.platform !== 'linux') return undefined;
    const bytes = readUserKey(ephemeralKeyDescription(ident));
    if (bytes === undefined) return undefined;
    try {
      return new Secret(bytes);
    } finally {
      bytes.fill(0);
    }
  }

  async write(ident: string, pin: Secret, seconds: number): Promise<void> {
    if (process.platform !== 'linux') throw new KeychainError('Ephemeral PIN storage (the kernel keyring) exists on Linux only');
    await pin.use((bytes) => addKey(ephemeralKeyDescription(ident), bytes, { timeoutSeconds: seconds }));
  }

  async remove(ident: string): Promise<boolean> {
    if (process.platform !== 'linux') return false;
    const id = searchKey(ephemeralKeyDescription(ident));
    return id === undefined ? false : invalidateKey(id);
  }
}

/** Where a PIN went, or where one would be read from. */
export type StoreLocation = 'keychain' | 'config' | 'kernel-keyring';

export interface KeyringPinStoreOptions {
  /** Defaults to the OS keychain (OsKeychain). */
  readonly backend?: KeyringBackend;
  /** openpgp-card-state's config: which store each card's PIN lives in. */
  readonly config?: CardStateConfig;
  /** Ephemeral PINs; defaults to the kernel user keyring. */
  readonly ephemeral?: EphemeralPins;
  readonly log?: Logger;
}

/**
 * Card PINs where openpgp-card-state keeps them, chosen per card by its config (pin_storage,
 * else default_pin_storage for unlisted cards, else Keyring):
 * - Keyring: the keychain entry above;
 * - Direct: the PIN in config.toml;
 * - Ephemeral: the kernel user keyring, for pin_expiry seconds;
 * - Pinentry: nothing stored (the agent asks; see src/notify/pin-prompt.ts).
 * get() answers from the card's store; set() writes there (`'none'` for Pinentry: the caller
 * keeps the PIN in memory); delete() clears it.
 */
export class KeyringPinStore implements PinStore {
  private readonly backend: KeyringBackend;
  private readonly ephemeral: EphemeralPins;
  private readonly log: Logger;

  constructor(private readonly opts: KeyringPinStoreOptions = {}) {
    this.backend = opts.backend ?? new OsKeychain();
    this.ephemeral = opts.ephemeral ?? new KernelEphemeralPins();
    this.log = opts.log ?? getLogger('pins');
  }

  get config(): CardStateConfig | undefined {
    return this.opts.config;
  }

  /** What openpgp-card-state's config says about the card (Keyring when there is no config or it is unreadable). */
  async cardConfig(ident: string): Promise<CardConfig> {
    const key = normalizeIdent(ident);
    if (this.opts.config === undefined) return { ident: key, nickname: undefined, storage: { kind: 'Keyring' }, listed: false };
    try {
      return await this.opts.config.card(key);
    } catch (err) {
      this.log.warn({ err: describe(err) }, 'openpgp-card-state config unreadable; using the keychain only');
      return { ident: key, nickname: undefined, storage: { kind: 'Keyring' }, listed: false };
    }
  }

  async get(ident: string): Promise<Secret | undefined> {
    return (await this.lookup(ident)).pin;
  }

  /** Where get() finds a PIN for this card, or 'none'. */
  async location(ident: string): Promise<StoreLocation | 'none'> {
    const found = await this.lookup(ident);
    found.pin?.wipe();
    return found.pin === undefined ? 'none' : found.where;
  }

  private async lookup(ident: string): Promise<{ pin: Secret | undefined; where: StoreLocation }> {
    const key = normalizeIdent(ident);
    const card = await this.cardConfig(key);
    switch (card.storage.kind) {
      case 'Direct':
        return { pin: card.storage.pin, where: 'config' };
      case 'Ephemeral':
        return { pin: await this.readEphemeral(key), where: 'kernel-keyring' };
      case 'Pinentry':
        this.log.debug({ ident: key }, 'openpgp-card-state: this card\'s PIN is asked for (Pinentry), never stored');
        return { pin: undefined, where: 'keychain' };
      default: {
        const pin = await this.backend.get(key);
        return { pin: pin ?? undefined, where: 'keychain' };
      }
    }
  }

  private async readEphemeral(key: string): Promise<Secret | undefined> {
    try {
      return await this.ephemeral.read(key);
    } catch (err) {
      this.log.warn({ ident: key, err: describe(err) }, 'the kernel keyring could not be read for an Ephemeral PIN');
      return undefined;
    }
  }

  async set(ident: string, pin: Secret): Promise<void> {
    await this.store(ident, pin);
  }

  /**
   * Keeps a PIN the card accepted in the card's store, and answers which ('none': Pinentry
   * cards keep no PIN). `pin` is lent. KeychainError when the keychain cannot be reached.
   */
  async store(ident: string, pin: Secret): Promise<StoreLocation | 'none'> {
    const key = normalizeIdent(ident);
    const card = await this.cardConfig(key);
    switch (card.storage.kind) {
      case 'Direct':
        card.storage.pin?.wipe();
        await this.opts.config!.setDirectPin(key, pin);
        return 'config';
      case 'Ephemeral': {
        const seconds = await this.opts.config!.pinExpirySeconds().catch(() => 60);
        await this.ephemeral.write(key, pin, seconds);
        return 'kernel-keyring';
      }
      case 'Pinentry':
        return 'none';
      default:
        await this.backend.set(key, pin);
        if (this.opts.config !== undefined && !card.listed) {
          try {
            await this.opts.config.recordKeyring(key);
          } catch (err) {
            // The PIN is stored; openpgp-card-state finds it without the entry too (Keyring is its default).
            this.log.warn({ err: describe(err), path: this.opts.config.path }, 'PIN stored, but the card could not be recorded in the openpgp-card-state config');
          }
        }
        return 'keychain';
    }
  }

  /** Removes the card's stored PIN from its store; true when one was there. KeychainError when the keychain cannot be reached. */
  async delete(ident: string): Promise<boolean> {
    const key = normalizeIdent(ident);
    const card = await this.cardConfig(key);
    switch (card.storage.kind) {
      case 'Direct':
        card.storage.pin?.wipe();
        return this.opts.config!.dropDirectPin(key);
      case 'Ephemeral':
        try {
          return await this.ephemeral.remove(key);
        } catch (err) {
          throw new KeychainError(`the kernel keyring could not remove the Ephemeral PIN: ${describe(err)}`, { cause: err });
        }
      case 'Pinentry':
        return false;
      default:
        return this.backend.delete(key);
    }
  }
}

function describe(err: unknown): string {
  return err instanceof AgentError || err instanceof Error ? err.message : String(err);
}
