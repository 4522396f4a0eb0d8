import { describe, expect, it } from 'vitest';
import { EXIT, errorMessage, exitCodeFor } from '../../src/cli/exit-codes.js';
import {
  AgentError,
  AlreadyRunningError,
  CardUnavailableError,
  ConfigError,
  KeychainError,
  PinBlockedError,
  WireFormatError,
} from '../../src/errors.js';

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

  it('prints an AgentError as one line, and a bug with its stack', () => {
    expect(errorMessage(new ConfigError('invalid DEBUG directive "x"'))).toBe('openpgp-card-agent: invalid DEBUG directive "x"');
    const bug = errorMessage(new TypeError('oops'));
    expect(bug).toMatch(/^openpgp-card-agent: internal error: TypeError: oops\n\s+at /);
  });
});
