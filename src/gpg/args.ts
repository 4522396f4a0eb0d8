import { ConfigError } from '../errors.js';

/** What `openpgp-card-agent gpg` was asked to do, read from gpg-style arguments. */
export interface GpgArgs {
  readonly command: 'sign' | 'verify' | 'export' | 'list-keys' | 'version' | 'help';
  readonly statusFd: number | undefined;
  readonly localUser: string | undefined;
  readonly armor: boolean;
  readonly detach: boolean;
  readonly output: string | undefined;
  readonly uid: string | undefined;
  /** Files / key names after the options (verify: signature then data; export: key names). */
  readonly rest: readonly string[];
  /** The arguments as given, for handing over to GnuPG. */
  readonly argv: readonly string[];
}

/** Long options that take a value, and the short letters that do (gpg's own set, as far as we read it). */
const LONG_WITH_VALUE = new Set(['status-fd', 'local-user', 'output', 'uid', 'keyid-format', 'default-key', 'digest-algo', 'homedir', 'trust-model', 'logger-fd', 'attribute-fd', 'passphrase-fd', 'pinentry-mode', 'compress-level']);
const SHORT_WITH_VALUE = new Set(['u', 'o']);
/** Options gpg users and tools pass that change nothing here. */
const IGNORED = new Set(['batch', 'no-tty', 'yes', 'quiet', 'verbose', 'keyid-format', 'with-colons', 'no-verbose', 'use-agent', 'no-default-keyring', 'trust-model', 'homedir', 'default-key', 'digest-algo', 'logger-fd', 'pinentry-mode', 'compress-level', 'no-permission-warning', 'fixed-list-mode', 'with-fingerprint', 'with-keygrip', 'no-auto-check-trustdb', 'no-emit-version', 'textmode', 'clearsign']);

const COMMANDS: Record<string, GpgArgs['command']> = {
  sign: 'sign',
  verify: 'verify',
  export: 'export',
  'list-keys': 'list-keys',
  'list-secret-keys': 'list-keys',
  version: 'version',
  help: 'help',
};

/**
 * Parses gpg-style arguments: bundled short options (`-bsau KEY`), `--opt=value` and
 * `--opt value`, `--` to end options. What git passes: `--status-fd=2 -bsau KEY` to sign,
 * `--keyid-format=long --status-fd=1 --verify FILE -` to verify (git 2.39 gpg-interface.c).
 */
export function parseGpgArgs(argv: readonly string[]): GpgArgs {
  let command: GpgArgs['command'] | undefined;
  let statusFd: number | undefined;
  let localUser: string | undefined;
  let armor = false;
  let detach = false;
  let output: string | undefined;
  let uid: string | undefined;
  const rest: string[] = [];
  const setCommand = (c: GpgArgs['command']): void => {
    // -s with -b is one command (detached signing); anything else twice is a mistake.
    if (command !== undefined && command !== c) throw new ConfigError(`conflicting commands: --${command} and --${c}`);
    command = c;
  };
  const option = (name: string, value: string | undefined): void => {
    switch (name) {
      case 'status-fd': {
        const n = Number(value);
        if (!Number.isInteger(n) || n < 0) throw new ConfigError(`--status-fd wants a file descriptor number, got "${value}"`);
        statusFd = n;
        return;
      }
      case 'local-user':
      case 'u':
        localUser = value;
        return;
      case 'output':
      case 'o':
        output = value;
        return;
      case 'uid':
        uid = value;
        return;
      case 'armor':
      case 'a':
        armor = true;
        return;
      case 'detach-sign':
      case 'b':
        detach = true;
        setCommand('sign');
        return;
      case 's':
        setCommand('sign');
        return;
      case 'K':
      case 'k':
        setCommand('list-keys');
        return;
      case 'h':
        setCommand('help');
        return;
    }
    const cmd = COMMANDS[name];
    if (cmd !== undefined) {
      setCommand(cmd);
      return;
    }
    if (IGNORED.has(name) || name === 'q' || name === 'v') return;
    throw new ConfigError(`unsupported option ${name.length === 1 ? '-' : '--'}${name} (this is openpgp-card-agent's gpg for git; see --help)`);
  };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (a === '--') {
      rest.push(...argv.slice(i + 1));
      break;
    }
    if (a.startsWith('--')) {
      const eq = a.indexOf('=');
      const name = eq < 0 ? a.slice(2) : a.slice(2, eq);
      let value: string | undefined = eq < 0 ? undefined : a.slice(eq + 1);
      if (LONG_WITH_VALUE.has(name) && value === undefined) {
        value = argv[++i];
        if (value === undefined) throw new ConfigError(`--${name} wants a value`);
      }
      option(name, value);
    } else if (a.startsWith('-') && a.length > 1) {
      for (let j = 1; j < a.length; j++) {
        const letter = a[j]!;
        if (SHORT_WITH_VALUE.has(letter)) {
          // The value is the rest of this argument, or the next one (-bsau KEY, -uKEY).
          const value = j + 1 < a.length ? a.slice(j + 1) : argv[++i];
          if (value === undefined) throw new ConfigError(`-${letter} wants a value`);
          option(letter, value);
          break;
        }
        option(letter, undefined);
      }
    } else {
      rest.push(a);
    }
  }
  return { command: command ?? (rest.length > 0 ? 'verify' : 'help'), statusFd, localUser, armor, detach, output, uid, rest, argv: [...argv] };
}
