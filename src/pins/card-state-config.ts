import { randomBytes } from 'node:crypto';
import { mkdir, open, readFile, rename, stat, unlink } from 'node:fs/promises';
import { homedir } from 'node:os';
import { dirname, isAbsolute, join } from 'node:path';
import { parse, stringify } from 'smol-toml';
import { ConfigError } from '../errors.js';
import { getLogger, type Logger } from '../log.js';
import { Secret } from '../secret.js';
import { normalizeIdent } from './pin-store.js';

/**
 * openpgp-card-state's config file (the PIN store of the Rust openpgp-card-ssh-agent and other
 * openpgp-card tools), read and written the way that crate (0.4, through confy 2 and serde) does:
 *
 *   default_pin_storage = "Keyring"        # for cards without an entry
 *   pin_expiry = 60                        # seconds an Ephemeral PIN lives (default 60)
 *
 *   [[cards]]
 *   ident = "0006:12345678"
 *   nickname = "work key"                  # optional
 *   pin_storage = "Keyring"                # optional; missing = Keyring. Also Ephemeral, Pinentry
 *
 *   [[cards]]
 *   ident = "0006:87654321"
 *   [cards.pin_storage]                    # Direct is a serde newtype variant: a table
 *   Direct = "123456"                      # holding the PIN in clear
 *
 * Variant names are also accepted in lowercase on read (as that crate's serde aliases do); we
 * write them capitalised. Writes keep every other table and field (TOML is re-serialised, so
 * comments and layout are not kept), are atomic (a unique temporary file, fsync, rename), 0600,
 * and one at a time within this process.
 */

export type PinStorageKind = 'Keyring' | 'Direct' | 'Ephemeral' | 'Pinentry';

export type PinStorage =
  | { readonly kind: 'Keyring' }
  | { readonly kind: 'Ephemeral' }
  /** `program`: a pinentry named in the variant's payload, when the file gives one. */
  | { readonly kind: 'Pinentry'; readonly program?: string | undefined }
  /** `pin` is a fresh Secret the caller owns (undefined when the table holds no string). */
  | { readonly kind: 'Direct'; readonly pin: Secret | undefined };

export interface CardConfig {
  readonly ident: string;
  readonly nickname: string | undefined;
  /** The card's own pin_storage, else (no entry) default_pin_storage, else Keyring. */
  readonly storage: PinStorage;
  /** Whether the card has an entry in [[cards]]. */
  readonly listed: boolean;
}

export const DEFAULT_PIN_EXPIRY_SECONDS = 60;

/** The description of an Ephemeral PIN in the kernel user keyring (keyring-rs's keyutils naming). */
export function ephemeralKeyDescription(ident: string): string {
  return `keyring-rs:${normalizeIdent(ident)}@openpgp-card`;
}

/**
 * Where openpgp-card-state's config lives: confy 2's App strategy (etcetera, app name
 * "openpgp-card-state", config name "config"):
 * - Linux, macOS and other Unix: XDG, `$XDG_CONFIG_HOME` when it is absolute, else `~/.config`,
 *   then `openpgp-card-state/config.toml` (on macOS too: confy 2 no longer uses
 *   ~/Library/Application Support);
 * - Windows: `%APPDATA%\openpgp-card-state\config\config.toml`.
 */
export function cardStateConfigPath(env: NodeJS.ProcessEnv, platform: NodeJS.Platform = process.platform): string {
  const home = env['HOME'] !== undefined && env['HOME'] !== '' ? env['HOME'] : homedir();
  if (platform === 'win32') {
    const appData = env['APPDATA'] !== undefined && env['APPDATA'] !== '' ? env['APPDATA'] : join(env['USERPROFILE'] ?? home, 'AppData', 'Roaming');
    return join(appData, 'openpgp-card-state', 'config', 'config.toml');
  }
  const xdg = env['XDG_CONFIG_HOME'];
  const base = xdg !== undefined && isAbsolute(xdg) ? xdg : join(home, '.config');
  return join(base, 'openpgp-card-state', 'config.toml');
}

type Toml = Record<string, unknown>;

function isTable(v: unknown): v is Toml {
  return typeof v === 'object' && v !== null && !Array.isArray(v) && !(v instanceof Date);
}

const KINDS: readonly PinStorageKind[] = ['Keyring', 'Direct', 'Ephemeral', 'Pinentry'];

function kindOf(name: string): PinStorageKind | undefined {
  return KINDS.find((k) => k === name || k.toLowerCase() === name);
}

/** Which pin_storage variant `v` is, read as parsePinStorage reads it, without touching its payload (no PIN copied). */
function storageKind(v: unknown): PinStorageKind | undefined {
  if (typeof v === 'string') return kindOf(v);
  if (!isTable(v)) return undefined;
  const keys = Object.keys(v);
  return keys.length === 1 ? kindOf(keys[0]!) : undefined;
}

/** A pin_storage value as serde reads it: a unit variant as a string, a newtype variant as a one-key table. */
export function parsePinStorage(v: unknown): PinStorage | undefined {
  if (typeof v === 'string') {
    const kind = kindOf(v);
    if (kind === undefined) return undefined;
    return kind === 'Direct' ? { kind, pin: undefined } : { kind };
  }
  if (!isTable(v)) return undefined;
  const keys = Object.keys(v);
  if (keys.length !== 1) return undefined;
  const kind = kindOf(keys[0]!);
  const payload = v[keys[0]!];
  switch (kind) {
    case 'Direct':
      return { kind, pin: typeof payload === 'string' ? new Secret(payload) : undefined };
    case 'Pinentry':
      return { kind, program: typeof payload === 'string' && payload !== '' ? payload : undefined };
    case 'Keyring':
    case 'Ephemeral':
      return { kind };
    default:
      return undefined;
  }
}

function sameCard(entry: unknown, ident: string): entry is Toml {
  return isTable(entry) && typeof entry['ident'] === 'string' && normalizeIdent(entry['ident']) === ident;
}

function cardsOf(doc: Toml): unknown[] {
  return Array.isArray(doc['cards']) ? (doc['cards'] as unknown[]) : [];
}

function holdsDirectPin(doc: Toml): boolean {
  return cardsOf(doc).some((c) => isTable(c) && storageKind(c['pin_storage']) === 'Direct' && isTable(c['pin_storage']));
}

export class CardStateConfig {
  private queue: Promise<unknown> = Promise.resolve();
  private warnedMode: number | undefined;
  private readonly log: Logger;

  constructor(
    readonly path: string,
    opts: { log?: Logger } = {},
  ) {
    this.log = opts.log ?? getLogger('pins');
  }

  /** The parsed file; {} when it does not exist. ConfigError when unreadable or not TOML. */
  async read(): Promise<Toml> {
    let text: string;
    try {
      text = await readFile(this.path, 'utf8');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return {};
      throw new ConfigError(`cannot read openpgp-card-state config ${this.path}: ${(err as Error).message}`, { cause: err });
    }
    let doc: Toml;
    try {
      doc = parse(text) as Toml;
    } catch (err) {
      throw new ConfigError(`openpgp-card-state config ${this.path} is not valid TOML: ${(err as Error).message}`, { cause: err });
    }
    if (holdsDirectPin(doc)) await this.checkMode();
    return doc;
  }

  /** A file holding a PIN in clear that group or others may read: say so (once per mode seen). */
  private async checkMode(): Promise<void> {
    if (process.platform === 'win32') return;
    try {
      const mode = (await stat(this.path)).mode & 0o777;
      if ((mode & 0o077) !== 0 && this.warnedMode !== mode) {
        this.warnedMode = mode;
        this.log.warn(
          { path: this.path, mode: mode.toString(8).padStart(4, '0') },
          `the openpgp-card-state config holds a PIN in clear (pin_storage Direct) and group or others can read it: run  chmod 600 ${this.path}`,
        );
      }
    } catch {
      // Gone since we read it: nothing to warn about.
    }
  }

  /** What the file says about `ident`: its nickname and effective PIN storage. */
  async card(ident: string): Promise<CardConfig> {
    const key = normalizeIdent(ident);
    const doc = await this.read();
    const entry = cardsOf(doc).find((c) => sameCard(c, key)) as Toml | undefined;
    const nickname = entry !== undefined && typeof entry['nickname'] === 'string' ? entry['nickname'] : undefined;
    if (entry !== undefined) {
      // A listed card without pin_storage is a Keyring card (serde's default for the field).
      const own = entry['pin_storage'] === undefined ? { kind: 'Keyring' as const } : parsePinStorage(entry['pin_storage']);
      if (own === undefined) this.log.warn({ path: this.path, ident: key }, 'openpgp-card-state config: unknown pin_storage for this card; using the keychain');
      return { ident: key, nickname, storage: own ?? { kind: 'Keyring' }, listed: true };
    }
    const fallback = parsePinStorage(doc['default_pin_storage']);
    // A default Direct PIN would apply to every card: not something either tool writes.
    const storage = fallback === undefined || fallback.kind === 'Direct' ? { kind: 'Keyring' as const } : fallback;
    return { ident: key, nickname, storage, listed: false };
  }

  /** pin_expiry: how long an Ephemeral PIN lives, in seconds. */
  async pinExpirySeconds(): Promise<number> {
    const v = (await this.read())['pin_expiry'];
    const n = typeof v === 'bigint' ? Number(v) : v;
    return typeof n === 'number' && Number.isFinite(n) && n > 0 ? n : DEFAULT_PIN_EXPIRY_SECONDS;
  }

  /**
   * Makes sure openpgp-card-state knows `ident` as a Keyring card: adds `{ ident, pin_storage =
   * "Keyring" }` when the card has no entry. A listed card is left as it is. True when written.
   */
  recordKeyring(ident: string): Promise<boolean> {
    const key = normalizeIdent(ident);
    return this.update((doc) => {
      const cards = cardsOf(doc);
      if (cards.some((c) => sameCard(c, key))) return false;
      cards.push({ ident: key, pin_storage: 'Keyring' });
      doc['cards'] = cards;
      return true;
    });
  }

  /** Stores `pin` as the card's Direct PIN (`[cards.pin_storage] Direct = "..."`), as set_pin does for a Direct card. */
  setDirectPin(ident: string, pin: Secret): Promise<boolean> {
    const key = normalizeIdent(ident);
    return this.update((doc) => {
      const cards = cardsOf(doc);
      let entry = cards.find((c) => sameCard(c, key)) as Toml | undefined;
      if (entry === undefined) {
        entry = { ident: key };
        cards.push(entry);
      }
      // TOML text is strings: here the PIN has to become one.
      entry['pin_storage'] = { Direct: pin.revealString() };
      doc['cards'] = cards;
      return true;
    });
  }

  /**
   * The card rejected its Direct PIN, or the user asked to forget it: the PIN is removed and the
   * card keeps `pin_storage = "Direct"` with no PIN (the user's choice of storage stays).
   * True when there was one.
   */
  dropDirectPin(ident: string): Promise<boolean> {
    const key = normalizeIdent(ident);
    return this.update((doc) => {
      const entry = cardsOf(doc).find((c) => sameCard(c, key)) as Toml | undefined;
      if (entry === undefined || !isTable(entry['pin_storage']) || storageKind(entry['pin_storage']) !== 'Direct') return false;
      entry['pin_storage'] = 'Direct';
      return true;
    });
  }

  /** Read, change, write atomically; one change at a time. `change` answers whether to write. */
  private update(change: (doc: Toml) => boolean): Promise<boolean> {
    const run = this.queue.then(async () => {
      const doc = await this.read();
      if (!change(doc)) return false;
      await this.write(doc);
      return true;
    });
    this.queue = run.catch(() => undefined);
    return run;
  }

  /** Atomic replace, owner-only (the file may hold Direct PINs). */
  private async write(doc: Toml): Promise<void> {
    const dir = dirname(this.path);
    const tmp = join(dir, `.config.toml.${process.pid}.${randomBytes(6).toString('hex')}.tmp`);
    try {
      await mkdir(dir, { recursive: true, mode: 0o700 });
      // 'wx': a fresh file of ours, never one planted under that name.
      const fh = await open(tmp, 'wx', 0o600);
      try {
        await fh.writeFile(stringify(doc));
        await fh.chmod(0o600);
        await fh.sync();
      } finally {
        await fh.close();
      }
      await rename(tmp, this.path);
      await syncDir(dir);
    } catch (err) {
      await unlink(tmp).catch(() => undefined);
      throw new ConfigError(`cannot write openpgp-card-state config ${this.path}: ${(err as Error).message}`, { cause: err });
    }
  }
}

/** fsync the directory so the rename survives a crash (not possible on Windows; skipped there). */
async function syncDir(dir: string): Promise<void> {
  if (process.platform === 'win32') return;
  const fh = await open(dir, 'r');
  try {
    await fh.sync();
  } catch {
    // Some file systems refuse fsync on a directory; the rename is done either way.
  } finally {
    await fh.close();
  }
}
