import { AgentError, AlreadyRunningError, CardStatusError, CardUnavailableError, ConfigError, KeychainError, PinRejectedError, PinRequiredError, UnsupportedError } from '../errors.js';

/** Process exit codes, one per family of failure. */
export const EXIT = {
  OK: 0,
  /** Any other AgentError (also ssh-agent's exit code for a failed -k). */
  FAILURE: 1,
  /** Bad command line or configuration (ConfigError, commander usage errors). */
  USAGE: 2,
  /** Another agent already answers on our socket. */
  ALREADY_RUNNING: 3,
  /** Card, reader or pcscd unreachable, or the card refused. */
  CARD: 4,
  /** PIN missing, wrong or blocked. */
  PIN: 5,
  /** OS keychain unreachable. */
  KEYCHAIN: 6,
  /** A bug: an error that is not an AgentError (EX_SOFTWARE). */
  INTERNAL: 70,
} as const;

type ErrorClass = abstract new (...args: never[]) => AgentError;

/**
 * Each family of errors and its code, in this order: an error of a class (or of a subclass) ends
 * with the first that matches. PIN refusals come before the card's other status words, which
 * they are a kind of. As the man page says: CARD for a card, reader or pcscd unreachable
 * (a reset, a PC/SC error or timeout too) or a card that refused; PIN for a PIN missing, wrong
 * or blocked.
 */
const BY_CLASS: ReadonlyArray<readonly [ErrorClass, number]> = [
  [ConfigError, EXIT.USAGE],
  [AlreadyRunningError, EXIT.ALREADY_RUNNING],
  [PinRejectedError, EXIT.PIN],
  [PinRequiredError, EXIT.PIN],
  [CardUnavailableError, EXIT.CARD],
  [CardStatusError, EXIT.CARD],
  [UnsupportedError, EXIT.CARD],
  [KeychainError, EXIT.KEYCHAIN],
];

/** An error from a system call (EACCES from mkdir, EADDRINUSE from listen): expected, not a bug. */
function isSystemError(err: unknown): err is NodeJS.ErrnoException {
  return err instanceof Error && typeof (err as NodeJS.ErrnoException).code === 'string' && (err as NodeJS.ErrnoException).syscall !== undefined;
}

/** The exit code for an error that ended the program. */
export function exitCodeFor(err: unknown): number {
  if (err instanceof AgentError) {
    return BY_CLASS.find(([cls]) => err instanceof cls)?.[1] ?? EXIT.FAILURE;
  }
  if (isSystemError(err)) return EXIT.FAILURE;
  return EXIT.INTERNAL;
}

/**
 * The one line printed on stderr for an error that ended the program. System errors (ENOENT,
 * EACCES from listen or mkdir) are expected failures too and print just their message; anything
 * else is a bug and gets its stack.
 */
export function errorMessage(err: unknown, program = 'openpgp-card-agent'): string {
  if (err instanceof AgentError) return `${program}: ${err.message}`;
  if (isSystemError(err)) return `${program}: ${err.message}`;
  if (err instanceof Error) return `${program}: internal error: ${err.stack ?? err.message}`;
  return `${program}: internal error: ${String(err)}`;
}
