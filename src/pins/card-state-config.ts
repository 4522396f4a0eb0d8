import { mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import { homedir } from 'node:os';
import { dirname, join } from 'node:path';
import { parse, stringify } from 'smol-toml';
import { KeychainError } from '../errors.js';

/**
 * openpgp-card-state's config file (the PIN store of the Rust openpgp-card-ssh-agent):
 * `openpgp-card-state/config.toml` under the user's config directory, with top-level
 * `default_pin_storage` and `pin_expiry`, and `[[cards]]` entries of `ident`, `pin_storage`
 * (Keyring | Direct | Ephemeral | Pinentry), optional `nickname` (and `pin` for Direct).
 * We read it so users who switch keep their PINs, and record cards we store the way it does,
 * keeping every other entry and field as it was.
 */
export type PinStorage = 'Keyring' | 'Direct' | 'Ephemeral' | 'Pinentry';

export interface CardConfig {
  readonly ident: string;
  readonly pinStorage: PinStorage | undefined;
  readonly nickname: string | undefined;
  /** Only with pin_storage = Direct. */
  readonly directPin: string | undefined;
}

export function cardStateConfigPath(env: NodeJS.ProcessEnv): string {
  const base = env['XDG_CONFIG_HOME'] !== undefined && env['XDG_CONFIG_HOME'] !== '' ? env['XDG_CONFIG_HOME'] : join(env['HOME'] ?? homedir(), '.config');
  return join(base, 'openpgp-card-state', 'config.toml');
}

type Toml = Record<string, unknown>;

async function readToml(path: string): Promise<Toml> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return {};
    throw new KeychainError(`cannot read ${path}: ${(err as Error).message}`);
  }
  try {
    return parse(text) as Toml;
  } catch (err) {
    throw new KeychainError(`${path} is not valid TOML: ${(err as Error).message}`);
  }
}

const STORAGES = new Set(['Keyring', 'Direct', 'Ephemeral', 'Pinentry']);

export class CardStateConfig {
  constructor(readonly path: string) {}

  async defaultPinStorage(): Promise<PinStorage> {
    const v = (await readToml(this.path))['default_pin_storage'];
    return typeof v === 'string' && STORAGES.has(v) ? (v as PinStorage) : 'Keyring';
  }

  async card(ident: string): Promise<CardConfig | undefined> {
    const cards = (await readToml(this.path))['cards'];
    if (!Array.isArray(cards)) return undefined;
    const c = cards.find((x: unknown) => typeof x === 'object' && x !== null && String((x as Toml)['ident']).toUpperCase() === ident.toUpperCase()) as Toml | undefined;
    if (c === undefined) return undefined;
    const storage = c['pin_storage'];
    return {
      ident,
      pinStorage: typeof storage === 'string' && STORAGES.has(storage) ? (storage as PinStorage) : undefined,
      nickname: typeof c['nickname'] === 'string' ? c['nickname'] : undefined,
      directPin: typeof c['pin'] === 'string' ? c['pin'] : undefined,
    };
  }

  /** Records that `ident`'s PIN is in the keychain (pin_storage = Keyring), keeping all else. */
  async recordKeyring(ident: string): Promise<void> {
    const doc = await readToml(this.path);
    const cards = Array.isArray(doc['cards']) ? (doc['cards'] as Toml[]) : [];
    const existing = cards.find((c) => String(c['ident']).toUpperCase() === ident.toUpperCase());
    if (existing !== undefined) {
      if (existing['pin_storage'] === 'Keyring') return;
      existing['pin_storage'] = 'Keyring';
      delete existing['pin'];
    } else {
      cards.push({ ident, pin_storage: 'Keyring' });
    }
    doc['cards'] = cards;
    await mkdir(dirname(this.path), { recursive: true, mode: 0o700 });
    const tmp = `${this.path}.${process.pid}.tmp`;
    await writeFile(tmp, stringify(doc), { mode: 0o600 });
    await rename(tmp, this.path);
  }
}
