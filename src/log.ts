import pino, { type DestinationStream, type Level, type Logger } from 'pino';
import { TextDestination, type LineSink, type TextStyle } from './log-text.js';
import { fdKind, isJournalStream, underServiceManager } from './os/service-manager.js';

/** Log targets, as DEBUG/RUST_LOG directives name them. */
export const LOG_TARGETS = ['server', 'protocol', 'agent', 'card', 'pcsc', 'pins', 'notify', 'simulator', 'cli'] as const;
export type LogTarget = (typeof LOG_TARGETS)[number];
export type { Logger };

/** Directive levels, as env_logger (RUST_LOG) spells them. */
export const LOG_LEVELS = ['off', 'error', 'warn', 'info', 'debug', 'trace'] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];

/**
 * Names that mean the whole program in a directive (`openpgp_card_agent=debug`, as a Rust crate
 * would be named, or the command's own name).
 */
export const PROGRAM_TARGETS = ['openpgp_card_agent', 'openpgp-card-agent'] as const;

/** A parsed DEBUG/RUST_LOG value: a default level and per-target overrides. */
export interface LogDirectives {
  readonly defaultLevel: LogLevel;
  readonly targets: ReadonlyMap<LogTarget, LogLevel>;
}

/** A parsed value, and what could not be used of it. */
export interface ParsedDirectives extends LogDirectives {
  /** True when at least one item names one of our levels or targets. */
  readonly ours: boolean;
  /** Items addressed to us that could not be used ("card=loud: unknown level"). */
  readonly rejected: readonly string[];
}

export const DEFAULT_DIRECTIVES: LogDirectives = { defaultLevel: 'info', targets: new Map() };

/** Log output: JSON lines (for programs) or text lines (for people, files and journald). */
export const LOG_FORMATS = ['text', 'json'] as const;
export type LogFormat = (typeof LOG_FORMATS)[number];

/**
 * Keys that must never reach a log line, whatever object carries them. Secret already prints
 * [REDACTED]; this is defence in depth against a plain string slipping into a log call.
 */
export const REDACTED_KEYS = ['pin', 'passphrase', 'password', 'secret', 'adminPin', 'resetCode', 'newPin'] as const;

let root: Logger = pino({ level: 'silent' });
let directives: LogDirectives | undefined;

/** Replaces the root logger; `levels` (if given) sets per-target levels for later getLogger calls. */
export function setRootLogger(logger: Logger, levels?: LogDirectives): void {
  root = logger;
  directives = levels;
}

/** A child logger for one component, at that component's configured level. */
export function getLogger(target: LogTarget): Logger {
  if (directives === undefined) return root.child({ target });
  return root.child({ target }, { level: toPinoLevel(levelFor(directives, target)) });
}

/** The level a target logs at under `d`. */
export function levelFor(d: LogDirectives, target: LogTarget): LogLevel {
  return d.targets.get(target) ?? d.defaultLevel;
}

function isLevel(s: string): s is LogLevel {
  return (LOG_LEVELS as readonly string[]).includes(s);
}

function isTarget(s: string): s is LogTarget {
  return (LOG_TARGETS as readonly string[]).includes(s);
}

function isProgram(s: string): boolean {
  return (PROGRAM_TARGETS as readonly string[]).includes(s);
}

/**
 * Parses env_logger-style directives: comma-separated items, each `LEVEL`, `TARGET=LEVEL` or a
 * bare `TARGET` (which, as in env_logger, means trace for that target). Later items win.
 *
 * DEBUG and RUST_LOG are shared with other programs (`DEBUG=express:*`, `RUST_LOG=hyper=warn`),
 * so nothing in them stops us: items for other programs are skipped, and items for us that make
 * no sense are skipped and listed in `rejected`. An env_logger `/filter` suffix is dropped.
 */
export function parseLogDirectives(spec: string, source = 'DEBUG'): ParsedDirectives {
  let defaultLevel: LogLevel = 'info';
  const targets = new Map<LogTarget, LogLevel>();
  const rejected: string[] = [];
  let ours = false;
  for (const raw of spec.split(',')) {
    const slash = raw.indexOf('/');
    const item = (slash === -1 ? raw : raw.slice(0, slash)).trim();
    if (item === '') continue;
    const eq = item.indexOf('=');
    if (eq === -1) {
      const word = item.toLowerCase();
      if (isLevel(word)) defaultLevel = word;
      else if (isTarget(word)) targets.set(word, 'trace');
      else if (isProgram(word)) defaultLevel = 'trace';
      else continue;
      ours = true;
      continue;
    }
    const target = item.slice(0, eq).trim().toLowerCase();
    const level = item.slice(eq + 1).trim().toLowerCase();
    if (!isTarget(target) && !isProgram(target)) continue;
    ours = true;
    if (!isLevel(level)) {
      rejected.push(`${source} directive "${item}": unknown level "${level}" (levels: ${LOG_LEVELS.join(', ')})`);
      continue;
    }
    if (isTarget(target)) targets.set(target, level);
    else defaultLevel = level;
  }
  return { defaultLevel, targets, ours, rejected };
}

/** Directives to use, and the warnings to log once the logger is up. */
export interface EnvDirectives extends LogDirectives {
  readonly warnings: readonly string[];
}

/**
 * Reads DEBUG, else RUST_LOG, else the default (info). A variable with nothing for us in it
 * (DEBUG=express:*) is passed over with one warning, so RUST_LOG or the default applies.
 */
export function directivesFromEnv(env: NodeJS.ProcessEnv, fallback: LogDirectives = DEFAULT_DIRECTIVES): EnvDirectives {
  const warnings: string[] = [];
  for (const name of ['DEBUG', 'RUST_LOG'] as const) {
    const value = env[name];
    if (value === undefined || value.trim() === '') continue;
    const parsed = parseLogDirectives(value, name);
    warnings.push(...parsed.rejected.map((r) => `ignoring ${r}`));
    if (parsed.ours) return { defaultLevel: parsed.defaultLevel, targets: parsed.targets, warnings };
    warnings.push(
      `${name}=${JSON.stringify(value)} names nothing of openpgp-card-agent's, so it is ignored ` +
        `(levels: ${LOG_LEVELS.join(', ')}; targets: ${LOG_TARGETS.join(', ')})`,
    );
  }
  return { defaultLevel: fallback.defaultLevel, targets: fallback.targets, warnings };
}

export function toPinoLevel(level: LogLevel): Level | 'silent' {
  return level === 'off' ? 'silent' : level;
}

/** Where and how log records are written. */
export interface LogOutput {
  readonly format: LogFormat;
  /** For text: how a line starts (local time, ISO time, or a journald priority). */
  readonly style: TextStyle;
  /** ANSI colours (text on a terminal only). */
  readonly colour?: boolean;
  /** Default: fd 2 (stderr). */
  readonly destination?: DestinationStream | LineSink;
}

/**
 * The output the daemon picks when not told: text on a terminal, in the journal (with `<N>`
 * priorities), under a service manager and in files; JSON when stderr goes to another program.
 */
export function defaultLogOutput(env: NodeJS.ProcessEnv, stderrIsTty: boolean, format?: LogFormat): LogOutput {
  const kind = fdKind(2, stderrIsTty);
  const style: TextStyle = kind === 'tty' ? 'tty' : isJournalStream(2, env) ? 'journal' : 'file';
  const text = kind === 'tty' || kind === 'file' || style === 'journal' || underServiceManager(env);
  const colour = kind === 'tty' && (env['NO_COLOR'] ?? '') === '' && env['TERM'] !== 'dumb';
  return { format: format ?? (text ? 'text' : 'json'), style, colour };
}

/**
 * Builds the root logger. `output` true is text for a terminal, false JSON (both to stderr
 * unless `destination` is given; tests pass a stream).
 */
export function createRootLogger(d: LogDirectives, output: boolean | LogOutput, destination?: DestinationStream): Logger {
  const out: LogOutput =
    typeof output === 'boolean'
      ? { format: output ? 'text' : 'json', style: 'tty', ...(destination === undefined ? {} : { destination }) }
      : output;
  const options: pino.LoggerOptions = {
    level: toPinoLevel(d.defaultLevel),
    base: { pid: process.pid },
    redact: {
      paths: REDACTED_KEYS.flatMap((k) => [k, `*.${k}`]),
      censor: '[REDACTED]',
    },
  };
  let stream: DestinationStream;
  if (out.format === 'text') {
    const sink: LineSink = out.destination ?? pino.destination({ dest: 2, sync: true });
    stream = new TextDestination(sink, out.style, out.colour === true);
  } else {
    stream = out.destination ?? pino.destination({ dest: 2, sync: true });
  }
  return pino(options, stream);
}

/**
 * Configures logging for the process from DEBUG/RUST_LOG and installs the root logger; what
 * could not be used of DEBUG/RUST_LOG is logged once, at warn. Never throws on a directive.
 * `output` true/false: text/JSON on stderr (or `destination`); a LogOutput: as given.
 */
export function configureLogging(
  env: NodeJS.ProcessEnv,
  output: boolean | LogOutput,
  destination?: DestinationStream,
  fallback: LogDirectives = DEFAULT_DIRECTIVES,
): Logger {
  const d = directivesFromEnv(env, fallback);
  const logger = createRootLogger(d, output, destination);
  setRootLogger(logger, d);
  const cli = getLogger('cli');
  for (const w of d.warnings) cli.warn(w);
  return logger;
}
