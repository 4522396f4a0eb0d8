import pino, { type DestinationStream, type Level, type Logger } from 'pino';
import pretty from 'pino-pretty';
import { ConfigError } from './errors.js';

/** Log targets, as DEBUG/RUST_LOG directives name them. */
export const LOG_TARGETS = ['server', 'protocol', 'agent', 'card', 'pcsc', 'pins', 'notify', 'simulator', 'cli'] as const;
export type LogTarget = (typeof LOG_TARGETS)[number];
export type { Logger };

/** Directive levels, as env_logger (RUST_LOG) spells them. */
export const LOG_LEVELS = ['off', 'error', 'warn', 'info', 'debug', 'trace'] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];

/** A parsed DEBUG/RUST_LOG value: a default level and per-target overrides. */
export interface LogDirectives {
  readonly defaultLevel: LogLevel;
  readonly targets: ReadonlyMap<LogTarget, LogLevel>;
}

export const DEFAULT_DIRECTIVES: LogDirectives = { defaultLevel: 'info', targets: new Map() };

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

/**
 * Parses env_logger-style directives: comma-separated items, each `LEVEL`, `TARGET=LEVEL` or a
 * bare `TARGET` (which, as in env_logger, means trace for that target). Later items win.
 * `source` names the variable in error messages.
 */
export function parseLogDirectives(spec: string, source = 'DEBUG'): LogDirectives {
  let defaultLevel: LogLevel = 'info';
  const targets = new Map<LogTarget, LogLevel>();
  const bad = (item: string, why: string): ConfigError =>
    new ConfigError(
      `invalid ${source} directive "${item}": ${why} ` +
        `(expected LEVEL or TARGET=LEVEL, comma-separated; levels: ${LOG_LEVELS.join(', ')}; ` +
        `targets: ${LOG_TARGETS.join(', ')})`,
    );
  for (const raw of spec.split(',')) {
    const item = raw.trim();
    if (item === '') continue;
    if (item.includes('/')) throw bad(item, 'filter expressions (/regex) are not supported');
    const eq = item.indexOf('=');
    if (eq === -1) {
      const word = item.toLowerCase();
      if (isLevel(word)) defaultLevel = word;
      else if (isTarget(word)) targets.set(word, 'trace');
      else throw bad(item, `"${item}" is neither a level nor a target`);
      continue;
    }
    const target = item.slice(0, eq).trim().toLowerCase();
    const level = item.slice(eq + 1).trim().toLowerCase();
    if (!isTarget(target)) throw bad(item, `unknown target "${target}"`);
    if (!isLevel(level)) throw bad(item, `unknown level "${level}"`);
    targets.set(target, level);
  }
  return { defaultLevel, targets };
}

/** Reads DEBUG, else RUST_LOG, else the default (info). Empty values count as unset. */
export function directivesFromEnv(env: NodeJS.ProcessEnv): LogDirectives {
  const debug = env['DEBUG'];
  if (debug !== undefined && debug.trim() !== '') return parseLogDirectives(debug, 'DEBUG');
  const rustLog = env['RUST_LOG'];
  if (rustLog !== undefined && rustLog.trim() !== '') return parseLogDirectives(rustLog, 'RUST_LOG');
  return DEFAULT_DIRECTIVES;
}

export function toPinoLevel(level: LogLevel): Level | 'silent' {
  return level === 'off' ? 'silent' : level;
}

/**
 * Builds the root logger: readable lines on a TTY (pino-pretty, synchronous), JSON otherwise,
 * both to stderr unless `destination` is given (tests pass a stream).
 */
export function createRootLogger(d: LogDirectives, isTty: boolean, destination?: DestinationStream): Logger {
  const options: pino.LoggerOptions = {
    level: toPinoLevel(d.defaultLevel),
    base: { pid: process.pid },
    redact: {
      paths: REDACTED_KEYS.flatMap((k) => [k, `*.${k}`]),
      censor: '[REDACTED]',
    },
  };
  const stream: DestinationStream = isTty
    ? pretty({
        sync: true,
        destination: destination ?? 2,
        colorize: destination === undefined && process.stderr.isTTY === true,
        translateTime: 'SYS:HH:MM:ss.l',
        singleLine: true,
        ignore: 'pid,hostname,target,conn',
        messageFormat: '{if target}[{target}]{end}{if conn} conn={conn}{end} {msg}',
      })
    : (destination ?? pino.destination({ dest: 2, sync: true }));
  return pino(options, stream);
}

/**
 * Configures logging for the process from DEBUG/RUST_LOG and installs the root logger.
 * Throws ConfigError on an invalid directive (a start-up error). Returns the root logger.
 */
export function configureLogging(env: NodeJS.ProcessEnv, isTty: boolean, destination?: DestinationStream): Logger {
  const d = directivesFromEnv(env);
  const logger = createRootLogger(d, isTty, destination);
  setRootLogger(logger, d);
  return logger;
}
