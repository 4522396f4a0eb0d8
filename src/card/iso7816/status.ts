import {
  CardStatusError,
  ConditionsOfUseError,
  ForeignApplicationError,
  PinBlockedError,
  PinIncorrectError,
  PinRejectedError,
  ReferencedDataNotFoundError,
  SecurityIssueError,
  SecurityStatusNotSatisfiedError,
} from '../../errors.js';

/** Status words the driver acts on (ISO 7816-4 §5.6, OpenPGP card 3.4.1 §7.4). */
export const SW = {
  SUCCESS: 0x9000,
  WRONG_LENGTH: 0x6700,
  SECURITY_STATUS_NOT_SATISFIED: 0x6982,
  AUTH_METHOD_BLOCKED: 0x6983,
  CONDITIONS_OF_USE_NOT_SATISFIED: 0x6985,
  INCORRECT_DATA: 0x6a80,
  FILE_NOT_FOUND: 0x6a82,
  INCORRECT_P1P2: 0x6a86,
  REFERENCED_DATA_NOT_FOUND: 0x6a88,
  INS_NOT_SUPPORTED: 0x6d00,
  CLA_NOT_SUPPORTED: 0x6e00,
  SECURITY_ISSUE: 0x6600,
  LAST_COMMAND_OF_CHAIN_EXPECTED: 0x6883,
  NO_PRECISE_DIAGNOSIS: 0x6f00,
  /** 61xx: xx more bytes available (GET RESPONSE). */
  BYTES_REMAINING: 0x6100,
  /** 6Cxx: wrong Le, xx is the right one. */
  WRONG_LE: 0x6c00,
  /** 63Cx: verification failed, x tries left. */
  VERIFY_FAILED: 0x63c0,
} as const;

const MEANING: Record<number, string> = {
  0x6700: 'wrong length',
  0x6982: 'security status not satisfied (PIN not verified)',
  0x6983: 'PIN blocked',
  0x6985: 'conditions of use not satisfied',
  0x6a80: 'incorrect data',
  0x6a82: 'application not found',
  0x6a86: 'incorrect P1/P2',
  0x6a88: 'referenced data not found',
  0x6d00: 'instruction not supported',
  0x6e00: 'class not supported',
  0x6600: 'security-related issue (touch not given in time?)',
  0x6883: 'last command of the chain expected',
  0x6f00: 'no precise diagnosis',
};

/** "1 try left", "3 tries left". */
export const triesLeft = (n: number): string => `${n} ${n === 1 ? 'try' : 'tries'} left`;

export function describeStatus(sw: number): string {
  if ((sw & 0xfff0) === SW.VERIFY_FAILED) return `verification failed, ${triesLeft(sw & 0x0f)}`;
  return MEANING[sw] ?? 'unexpected status';
}

/**
 * The status words that answer a PIN (ISO 7816-4 §5.6, OpenPGP card 3.4.1 §7.2.2): 63Cx wrong,
 * x tries left (63C0: this try blocked it), 6983 blocked. Undefined for any other status word.
 */
function pinError(what: string, sw: number): PinRejectedError | undefined {
  if ((sw & 0xfff0) === SW.VERIFY_FAILED) {
    const left = sw & 0x0f;
    return left === 0 ? new PinBlockedError(`${what}: wrong PIN, now blocked`, sw) : new PinIncorrectError(`${what}: wrong PIN, ${triesLeft(left)}`, sw, left);
  }
  if (sw === SW.AUTH_METHOD_BLOCKED) return new PinBlockedError(`${what}: PIN blocked`, sw);
  return undefined;
}

/**
 * The error for a PIN the card did not take (a non-9000 answer to a VERIFY with data). Besides
 * 63Cx and 6983, any answer rejects the PIN: some cards answer a wrong PIN with 6982 (or a
 * too-short one with 6A80) and may still count the try.
 */
export function pinRejectedError(what: string, sw: number): PinRejectedError {
  return pinError(what, sw) ?? new PinRejectedError(`${what}: PIN not accepted (${describeStatus(sw)})`, sw, undefined);
}

/** The typed error for a non-9000 status word of `what`. */
export function statusError(what: string, sw: number): CardStatusError {
  const pin = pinError(what, sw);
  if (pin !== undefined) return pin;
  const message = `${what}: ${describeStatus(sw)}`;
  switch (sw) {
    case SW.SECURITY_STATUS_NOT_SATISFIED:
      return new SecurityStatusNotSatisfiedError(message, sw);
    case SW.CONDITIONS_OF_USE_NOT_SATISFIED:
      return new ConditionsOfUseError(message, sw);
    case SW.INS_NOT_SUPPORTED:
    case SW.CLA_NOT_SUPPORTED:
      return new ForeignApplicationError(`${message}: another application is selected`, sw);
    case SW.SECURITY_ISSUE:
      return new SecurityIssueError(message, sw);
    case SW.REFERENCED_DATA_NOT_FOUND:
      return new ReferencedDataNotFoundError(message, sw);
    default:
      return new CardStatusError(message, sw);
  }
}
