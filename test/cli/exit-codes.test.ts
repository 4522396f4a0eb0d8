import { describe, expect, it } from 'vitest';
import { EXIT, errorMessage, exitCodeFor } from '../../src/cli/exit-codes.js';
import { PcscError, PcscTimeoutError } from '../../src/card/pcsc/pcsc-errors.js';
import {
  AgentError,
  AlreadyRunningError,
  CardBusyError,
  CardRemovedError,
  CardResetError,
  CardStatusError,
  CardUnavailableError,
  ConditionsOfUseError,
  ConfigError,
  ForeignApplicationError,
  KeychainError,
  PinBlockedError,
  PinIncorrectError,
  PinRejectedError,
  PinRequiredError,
  ReferencedDataNotFoundError,
  SecurityIssueError,
  SecurityStatusNotSatisfiedError,
  TouchTimeoutError,
  UnsupportedError,
  WireFormatError,
} from '../../src/errors.js';
import { AgentUnreachableError } from '../../src/gpg/agent-client.js';
import { DBusError } from '../../src/pins/dbus/connection.js';

describe('exit codes', () => {
  it('maps error families to distinct non-zero codes', () => {
    expect(exitCodeFor(new ConfigError('bad'))).toBe(EXIT.USAGE);
    expect(exitCodeFor(new AlreadyRunningError('x'))).toBe(EXIT.ALREADY_RUNNING);
    expect(exitCodeFor(new CardUnavailableError('x'))).toBe(EXIT.CARD);
    expect(exitCodeFor(new PinBlockedError('x', 0x6983))).toBe(EXIT.PIN);
    expect(exitCodeFor(new KeychainError('x'))).toBe(EXIT.KEYCHAIN);
    expect(exitCodeFor(new WireFormatError('x', 0))).toBe(EXIT.FAILURE);
    expect(exitCodeFor(new AgentError('x'))).toBe(EXIT.FAILURE);
    expect(exitCodeFor(new TypeError('bug'))).toBe(EXIT.INTERNAL);
    const eacces = Object.assign(new Error('EACCES: permission denied, mkdir /x'), { code: 'EACCES', syscall: 'mkdir' });
    expect(exitCodeFor(eacces)).toBe(EXIT.FAILURE);
    const codes = Object.values(EXIT).filter((c) => c !== 0);
    expect(new Set(codes).size).toBe(codes.length);
  });

  it('gives every error class its exit code, subclasses included', () => {
    const cases: Array<[AgentError, number]> = [
      [new ConfigError('x'), EXIT.USAGE],
      [new AlreadyRunningError('x'), EXIT.ALREADY_RUNNING],
      [new CardUnavailableError('x'), EXIT.CARD],
      [new CardRemovedError('x'), EXIT.CARD],
      [new CardBusyError('x'), EXIT.CARD],
      [new CardStatusError('x', 0x6a80), EXIT.CARD],
      [new UnsupportedError('x'), EXIT.CARD],
      [new PinIncorrectError('x', 0x63c2, 2), EXIT.PIN],
      [new PinBlockedError('x', 0x6983), EXIT.PIN],
      [new PinRequiredError('x'), EXIT.PIN],
      [new KeychainError('x'), EXIT.KEYCHAIN],
      // Subclasses of the families above end with the family's code (they ended with 1 until the
      // codes were mapped by class; the man page always said CARD and PIN).
      [new CardResetError('x'), EXIT.CARD],
      [new PcscError('SCardConnect', 0x80100069), EXIT.CARD],
      [new PcscTimeoutError('SCardTransmit', 'transmit', 5000), EXIT.CARD],
      [new AgentUnreachableError('x'), EXIT.CARD],
      [new PinRejectedError('x', 0x6982, undefined), EXIT.PIN],
      [new SecurityStatusNotSatisfiedError('x', 0x6982), EXIT.CARD],
      [new ConditionsOfUseError('x', 0x6985), EXIT.CARD],
      [new ForeignApplicationError('x', 0x6d00), EXIT.CARD],
      [new SecurityIssueError('x', 0x6600), EXIT.CARD],
      [new ReferencedDataNotFoundError('x', 0x6a88), EXIT.CARD],
      // Any other AgentError.
      [new TouchTimeoutError('x'), EXIT.FAILURE],
      [new WireFormatError('x', 0), EXIT.FAILURE],
      [new DBusError('x'), EXIT.FAILURE],
      [new AgentError('x'), EXIT.FAILURE],
    ];
    for (const [err, code] of cases) expect([err.name, exitCodeFor(err)]).toEqual([err.name, code]);
  });

  it('prints an AgentError as one line, and a bug with its stack', () => {
    expect(errorMessage(new ConfigError('invalid DEBUG directive "x"'))).toBe('openpgp-card-agent: invalid DEBUG directive "x"');
    const bug = errorMessage(new TypeError('oops'));
    expect(bug).toMatch(/^openpgp-card-agent: internal error: TypeError: oops\n\s+at /);
  });
});
