import { describe, expect, it } from 'vitest';
import { ConfigError } from '../../src/errors.js';
import { directivesFromEnv, levelFor, parseLogDirectives } from '../../src/log.js';

describe('parseLogDirectives', () => {
  it('reads a bare default level', () => {
    const d = parseLogDirectives('debug');
    expect(d.defaultLevel).toBe('debug');
    expect(levelFor(d, 'card')).toBe('debug');
  });

  it('reads a default level and per-target levels', () => {
    const d = parseLogDirectives('warn,agent=debug,card=trace');
    expect(d.defaultLevel).toBe('warn');
    expect(levelFor(d, 'agent')).toBe('debug');
    expect(levelFor(d, 'card')).toBe('trace');
    expect(levelFor(d, 'server')).toBe('warn');
  });

  it('keeps the info default when only targets are named', () => {
    const d = parseLogDirectives('card=trace');
    expect(d.defaultLevel).toBe('info');
    expect(levelFor(d, 'card')).toBe('trace');
    expect(levelFor(d, 'pins')).toBe('info');
  });

  it('treats a bare target as trace for it, as env_logger does', () => {
    expect(levelFor(parseLogDirectives('error,pcsc'), 'pcsc')).toBe('trace');
  });

  it('accepts every level, case and spaces leniently, and lets later items win', () => {
    for (const level of ['off', 'error', 'warn', 'info', 'debug', 'trace'] as const) {
      expect(parseLogDirectives(level).defaultLevel).toBe(level);
    }
    const d = parseLogDirectives(' INFO , Card = Trace ,, card=off ');
    expect(d.defaultLevel).toBe('info');
    expect(levelFor(d, 'card')).toBe('off');
  });

  it.each([
    ['verbose', /"verbose" is neither a level nor a target/],
    ['frobnicator=debug', /unknown target "frobnicator"/],
    ['card=loud', /unknown level "loud"/],
    ['card=', /unknown level ""/],
    ['info/foo', /not supported/],
    ['1', /neither a level nor a target/],
  ])('rejects %s with a ConfigError naming the problem', (spec, message) => {
    expect(() => parseLogDirectives(spec)).toThrow(ConfigError);
    expect(() => parseLogDirectives(spec)).toThrow(message);
  });

  it('names the variable the directive came from', () => {
    expect(() => parseLogDirectives('nope', 'RUST_LOG')).toThrow(/invalid RUST_LOG directive "nope"/);
  });
});

describe('directivesFromEnv', () => {
  it('prefers DEBUG, falls back to RUST_LOG, then to info', () => {
    expect(directivesFromEnv({ DEBUG: 'debug', RUST_LOG: 'trace' }).defaultLevel).toBe('debug');
    expect(directivesFromEnv({ RUST_LOG: 'trace' }).defaultLevel).toBe('trace');
    expect(directivesFromEnv({ DEBUG: '', RUST_LOG: 'error' }).defaultLevel).toBe('error');
    expect(directivesFromEnv({}).defaultLevel).toBe('info');
  });

  it('throws a ConfigError for an invalid value in either variable', () => {
    expect(() => directivesFromEnv({ DEBUG: 'express:*' })).toThrow(ConfigError);
    expect(() => directivesFromEnv({ RUST_LOG: 'card=nope' })).toThrow(ConfigError);
  });
});
