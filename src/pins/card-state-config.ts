import { chmod, mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import { homedir } from 'node:os';
import { dirname, join } from 'node:path';
import { parse, stringify } from 'smol-toml';
import { ConfigError } from '../errors.js';
import { normalizeIdent } from './pin-store.js';

/**
 * openpgp-card-state's config file (the PIN store of the Rust openpgp-card-ssh-agent, read
 * through confy): `openpgp-card-state/config.toml` under the user's config directory, e.g.
 *
 *   default_pin_storage = "Keyring"
 *   pin_expiry = ...                       # kept as found; we do not interpret it
 *   [[cards]]
 *   ident = "0006:12345678"
 *   pin_storage = "Keyring"                # Keyring | Direct | Ephemeral | Pinentry
 *   nickname = "work key"                  # optional
 *   pin = "123456"                         # Direct only: the PIN in clear in this file
 *
 * A card without an entry uses default_pin_storage, and without that the keychain. We read it so
 * users who switch keep their PINs, and record cards whose PIN we store the way that tool does,
 * keeping every other entry and field (comments and layout are not kept: TOML is re-serialised).
 */
export const PIN_STORAGES = ['Keyring', 'Direct', 'Ephemeral', 'Pinentry'] as const;
export type PinStorage = (typeof PIN_STORAGES)[number];

export interface CardConfig {
  readonly ident: string;
  readonly pinStorage: PinStorage | undefined;
  readonly nickname: string | undefined;
  /** Only with pin_storage = Direct. */
  readonly directPin: string | undefined;
}

/**
 * Where openpgp-card-state's config lives: confy's directory for the app ("rs", "",
 * "openpgp-card-state") in the `directories` crate's layout.
 */
export function cardStateConfigPath(env: NodeJS.ProcessEnv, platform: NodeJS.Platform = process.platform): string {
  const home = env['HOME'] !== undefined && env['HOME'] !== '' ? env['HOME'] : homedir();
  if (platform === 'darwin') return join(home, 'Library', 'Application Support', 'rs.openpgp-card-state', 'config.toml');
  if (platform === 'win32') {
    const appData = env['APPDATA'] ?? join(home, 'AppData', 'Roaming');
    return join(appData, 'openpgp-card-state', 'config', 'config.toml');
  }
  const xdg = env['XDG_CONFIG_HOME'];
  const base = xdg !== undefined && xdg.startsWith('/') ? xdg : join(home, '.config');
  return join(base, 'openpgp-card-state', 'config.toml');
}

type Toml = Record<string, unknown>;

function isStorage(v: unknown): v is PinStorage {
  return typeof v === 'string' && (PIN_STORAGES as readonly string[]).includes(v);
}

function isTable(v: unknown): v is Toml {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function sameCard(entry: unknown, ident: string): entry is Toml {
  return isTable(entry) && typeof entry['ident'] === 'string' && normalizeIdent(entry['ident']) === ident;
}

export class CardStateConfig {
  constructor(readonly path: string) {}

  /** The parsed file; {} when it does not exist. ConfigError when unreadable or not TOML. */
  async read(): Promise<Toml> {
    let text: string;
    try {
      text = await readFile(this.path, 'utf8');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return {};
      throw new ConfigError(`cannot read openpgp-card-state config ${this.path}: ${(err as Error).message}`, { cause: err });
    }
    try {
      return parse(text) as Toml;
    } catch (err) {
      throw new ConfigError(`openpgp-card-state config ${this.path} is not valid TOML: ${(err as Error).message}`, { cause: err });
    }
  }

  async defaultPinStorage(): Promise<PinStorage> {
    const v = (await this.read())['default_pin_storage'];
    return isStorage(v) ? v : 'Keyring';
  }

  async card(ident: string): Promise<CardConfig | undefined> {
    const key = normalizeIdent(ident);
    const cards = (await this.read())['cards'];
    if (!Array.isArray(cards)) return undefined;
    const c = cards.find((x: unknown) => sameCard(x, key)) as Toml | undefined;
    if (c === undefined) return undefined;
    const storage = c['pin_storage'];
    return {
      ident: key,
      pinStorage: isStorage(storage) ? storage : undefined,
      nickname: typeof c['nickname'] === 'string' ? c['nickname'] : undefined,
      directPin: typeof c['pin'] === 'string' ? c['pin'] : undefined,
    };
  }

  /** The backend this card's PIN lives in: its own pin_storage, else default_pin_storage, else Keyring. */
  async storageFor(ident: string): Promise<PinStorage> {
    const doc = await this.read();
    const cards = Array.isArray(doc['cards']) ? doc['cards'] : [];
    const c = cards.find((x: unknown) => sameCard(x, normalizeIdent(ident))) as Toml | undefined;
    if (c !== undefined && isStorage(c['pin_storage'])) return c['pin_storage'];
    return isStorage(doc['default_pin_storage']) ? doc['default_pin_storage'] : 'Keyring';
  }

  /**
   * Records that `ident`'s PIN is in the keychain (pin_storage = "Keyring"), keeping every other
   * entry and field; a Direct PIN left in the entry is removed (it is no longer the card's PIN
   * store). Writes nothing when the file already says so.
   */
  async recordKeyring(ident: string): Promise<void> {
    const key = normalizeIdent(ident);
    const doc = await this.read();
    const cards: unknown[] = Array.isArray(doc['cards']) ? (doc['cards'] as unknown[]) : [];
    const existing = cards.find((c) => sameCard(c, key)) as Toml | undefined;
    if (existing !== undefined) {
      if (existing['pin_storage'] === 'Keyring' && !('pin' in existing)) return;
      existing['pin_storage'] = 'Keyring';
      delete existing['pin'];
    } else {
      cards.push({ ident: key, pin_storage: 'Keyring' });
    }
    doc['cards'] = cards;
    await this.write(doc);
  }

  /** Removes a Direct PIN (the card rejected it); true when there was one. */
  async dropDirectPin(ident: string): Promise<boolean> {
    const key = normalizeIdent(ident);
    const doc = await this.read();
    const cards = Array.isArray(doc['cards']) ? (doc['cards'] as unknown[]) : [];
    const existing = cards.find((c) => sameCard(c, key)) as Toml | undefined;
    if (existing === undefined || !('pin' in existing)) return false;
    delete existing['pin'];
    await this.write(doc);
    return true;
  }

  /** Atomic replace, owner-only (the file may hold Direct PINs). */
  private async write(doc: Toml): Promise<void> {
    try {
      await mkdir(dirname(this.path), { recursive: true, mode: 0o700 });
      const tmp = `${this.path}.${process.pid}.tmp`;
      await writeFile(tmp, stringify(doc), { mode: 0o600 });
      await chmod(tmp, 0o600);
      await rename(tmp, this.path);
    } catch (err) {
      throw new ConfigError(`cannot write openpgp-card-state config ${this.path}: ${(err as Error).message}`, { cause: err });
    }
  }
}
