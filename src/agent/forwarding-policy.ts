import { readFile } from 'node:fs/promises';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { parse as parseToml } from 'smol-toml';
import { ConfigError } from '../errors.js';
import { FORWARDED_POLICIES, type ForwardedPolicy } from './defaults.js';

/**
 * What the agent does with a request that arrives through agent forwarding (`ssh -A`): a
 * connection with a session-bind@openssh.com binding that says "forwarded".
 * - allow: as a local request;
 * - confirm: ask the user (SSH_ASKPASS), naming the chain of hosts, before each signature;
 * - deny: the card's key is not listed there and does not sign.
 */
export { FORWARDED_POLICIES, type ForwardedPolicy } from './defaults.js';

/**
 * The default. A forwarded request comes from a machine the user is logged in to, whose root
 * can use the socket as long as the session lasts; asking names that machine each time and
 * costs a click. Keys added with `ssh-add -h` rules that allow the very path are not asked
 * about again: those rules are the user's answer.
 */
export const DEFAULT_FORWARDED_POLICY: ForwardedPolicy = 'confirm';

export function isForwardedPolicy(s: unknown): s is ForwardedPolicy {
  return typeof s === 'string' && (FORWARDED_POLICIES as readonly string[]).includes(s);
}

/** The agent's own settings file: `$XDG_CONFIG_HOME/openpgp-card-agent/config.toml`. */
export function agentConfigPath(env: NodeJS.ProcessEnv = process.env): string {
  const xdg = env['XDG_CONFIG_HOME'];
  const base = xdg !== undefined && xdg !== '' ? xdg : join(env['HOME'] ?? homedir(), '.config');
  return join(base, 'openpgp-card-agent', 'config.toml');
}

/** The part of config.toml about forwarding: `forwarded = "..."` and `[cards."IDENT"] forwarded = "..."`. */
export interface ForwardingConfig {
  readonly forwarded?: ForwardedPolicy;
  /** Keyed by normalised ident. */
  readonly cards: ReadonlyMap<string, ForwardedPolicy>;
}

/** The form idents are compared in: `0006:12345678` (also accepts `cardno:0006_12345678`). */
export function normalizeIdent(ident: string): string {
  return ident.trim().replace(/^cardno:/i, '').replace('_', ':').toUpperCase();
}

function policyAt(value: unknown, where: string, path: string): ForwardedPolicy {
  if (!isForwardedPolicy(value)) {
    throw new ConfigError(`${path}: ${where} must be one of ${FORWARDED_POLICIES.join(', ')}, not ${JSON.stringify(value)}`);
  }
  return value;
}

/** Parses config.toml's forwarding settings. Unknown keys are left alone (other settings live there too). */
export function parseForwardingConfig(text: string, path = 'config.toml'): ForwardingConfig {
  let doc: Record<string, unknown>;
  try {
    doc = parseToml(text) as Record<string, unknown>;
  } catch (err) {
    throw new ConfigError(`${path}: ${(err as Error).message}`, { cause: err });
  }
  const cards = new Map<string, ForwardedPolicy>();
  const table = doc['cards'];
  if (table !== undefined) {
    if (typeof table !== 'object' || table === null || Array.isArray(table)) throw new ConfigError(`${path}: [cards] must be a table`);
    for (const [ident, settings] of Object.entries(table as Record<string, unknown>)) {
      if (typeof settings !== 'object' || settings === null || Array.isArray(settings)) {
        throw new ConfigError(`${path}: [cards."${ident}"] must be a table`);
      }
      const value = (settings as Record<string, unknown>)['forwarded'];
      if (value !== undefined) cards.set(normalizeIdent(ident), policyAt(value, `cards."${ident}".forwarded`, path));
    }
  }
  const top = doc['forwarded'];
  return top === undefined ? { cards } : { forwarded: policyAt(top, 'forwarded', path), cards };
}

/** Reads config.toml; a missing file is an empty configuration. */
export async function loadForwardingConfig(path: string): Promise<ForwardingConfig> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return { cards: new Map() };
    throw new ConfigError(`cannot read ${path}: ${(err as Error).message}`, { cause: err });
  }
  return parseForwardingConfig(text, path);
}

/**
 * The policy for a card: its `[cards."IDENT"]` entry, else `--forwarded`, else the file's
 * top-level `forwarded`, else DEFAULT_FORWARDED_POLICY.
 */
export class ForwardingPolicy {
  readonly #flag: ForwardedPolicy | undefined;
  readonly #config: ForwardingConfig;

  constructor(opts: { flag?: ForwardedPolicy | undefined; config?: ForwardingConfig } = {}) {
    this.#flag = opts.flag;
    this.#config = opts.config ?? { cards: new Map() };
  }

  policyFor(ident: string | undefined): ForwardedPolicy {
    const card = ident === undefined ? undefined : this.#config.cards.get(normalizeIdent(ident));
    return card ?? this.#flag ?? this.#config.forwarded ?? DEFAULT_FORWARDED_POLICY;
  }
}
