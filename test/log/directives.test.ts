import { describe, expect, it } from 'vitest';
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
    ['*'],
    ['express:*'],
    ['1'],
    ['hyper=warn'],
    ['openpgp_card_ssh_agent=debug'],
    ['verbose,frobnicator=debug'],
  ])('passes over %s, which names nothing of ours, without failing', (spec) => {
    const d = parseLogDirectives(spec);
    expect(d.ours).toBe(false);
    expect(d.rejected).toEqual([]);
    expect(d.defaultLevel).toBe('info');
    expect(d.targets.size).toBe(0);
  });

  it('keeps what is ours from a mixed value (RUST_LOG=info,hyper=warn)', () => {
    const d = parseLogDirectives('warn,hyper=trace,card=debug', 'RUST_LOG');
    expect(d.ours).toBe(true);
    expect(d.defaultLevel).toBe('warn');
    expect([...d.targets]).toEqual([['card', 'debug']]);
  });

  it('reads the program name as a target for every component', () => {
    expect(parseLogDirectives('openpgp_card_agent=debug').defaultLevel).toBe('debug');
    expect(parseLogDirectives('openpgp-card-agent').defaultLevel).toBe('trace');
  });

  it('lists an item for us with a bad level instead of failing, and drops env_logger filters', () => {
    const d = parseLogDirectives('card=loud,info/foo', 'RUST_LOG');
    expect(d.ours).toBe(true);
    expect(d.defaultLevel).toBe('info');
    expect(d.targets.size).toBe(0);
    expect(d.rejected).toEqual(['RUST_LOG directive "card=loud": unknown level "loud" (levels: off, error, warn, info, debug, trace)']);
  });
});

describe('directivesFromEnv', () => {
  it('prefers DEBUG, falls back to RUST_LOG, then to info', () => {
    expect(directivesFromEnv({ DEBUG: 'debug', RUST_LOG: 'trace' }).defaultLevel).toBe('debug');
    expect(directivesFromEnv({ RUST_LOG: 'trace' }).defaultLevel).toBe('trace');
    expect(directivesFromEnv({ DEBUG: '', RUST_LOG: 'error' }).defaultLevel).toBe('error');
    expect(directivesFromEnv({}).defaultLevel).toBe('info');
  });

  it('passes over a variable with nothing for us, with one warning, and reads the next', () => {
    const a = directivesFromEnv({ DEBUG: 'express:*', RUST_LOG: 'debug' });
    expect(a.defaultLevel).toBe('debug');
    expect(a.warnings).toHaveLength(1);
    expect(a.warnings[0]).toMatch(/^DEBUG="express:\*" names nothing of openpgp-card-agent's, so it is ignored/);
    const b = directivesFromEnv({ DEBUG: '*', RUST_LOG: 'openpgp_card_ssh_agent=debug' });
    expect(b.defaultLevel).toBe('info');
    expect(b.warnings).toHaveLength(2);
    const c = directivesFromEnv({ RUST_LOG: 'info,hyper=warn' });
    expect(c).toMatchObject({ defaultLevel: 'info', warnings: [] });
  });

  it('warns about an item for us that it cannot use', () => {
    const d = directivesFromEnv({ RUST_LOG: 'warn,card=nope' });
    expect(d.defaultLevel).toBe('warn');
    expect(d.warnings).toEqual(['ignoring RUST_LOG directive "card=nope": unknown level "nope" (levels: off, error, warn, info, debug, trace)']);
  });
});
