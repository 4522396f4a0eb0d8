import {
  AgentError,
  AlreadyRunningError,
  CardBusyError,
  CardRemovedError,
  CardStatusError,
  CardUnavailableError,
  ConfigError,
  KeychainError,
  PinBlockedError,
  PinIncorrectError,
  PinRequiredError,
  UnsupportedError,
} from '../errors.js';

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

/** An error of one of these classes (or a subclass) ends with that code. */
const BY_CLASS: ReadonlyArray<readonly [ErrorClass, number]> = [
  [ConfigError, EXIT.USAGE],
  [AlreadyRunningError, EXIT.ALREADY_RUNNING],
  [CardRemovedError, EXIT.CARD],
  [CardBusyError, EXIT.CARD],
  [UnsupportedError, EXIT.CARD],
  [PinIncorrectError, EXIT.PIN],
  [PinBlockedError, EXIT.PIN],
  [PinRequiredError, EXIT.PIN],
  [KeychainError, EXIT.KEYCHAIN],
];

/**
 * These two end with CARD only as themselves: their other subclasses (CardResetError,
 * PcscError, PcscTimeoutError, AgentUnreachableError; PinRejectedError, the status-word errors
 * such as SecurityStatusNotSatisfiedError) have their own codes and end with FAILURE, as any
 * other AgentError.
 */
const EXACTLY: ReadonlyMap<ErrorClass, number> = new Map<ErrorClass, number>([
  [CardUnavailableError, EXIT.CARD],
  [CardStatusError, EXIT.CARD],
]);

/** An error from a system call (EACCES from mkdir, EADDRINUSE from listen): expected, not a bug. */
function isSystemError(err: unknown): err is NodeJS.ErrnoException {
  return err instanceof Error && typeof (err as NodeJS.ErrnoException).code === 'string' && (err as NodeJS.ErrnoException).syscall !== undefined;
}

/** The exit code for an error that ended the program. */
export function exitCodeFor(err: unknown): number {
  if (err instanceof AgentError) {
    return BY_CLASS.find(([cls]) => err instanceof cls)?.[1] ?? EXACTLY.get(err.constructor as ErrorClass) ?? EXIT.FAILURE;
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
