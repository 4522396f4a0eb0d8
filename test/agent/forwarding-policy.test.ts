import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import {
  DEFAULT_FORWARDED_POLICY,
  ForwardingPolicy,
  agentConfigPath,
  loadForwardingConfig,
  parseForwardingConfig,
} from '../../src/agent/forwarding-policy.js';
import { ConfigError } from '../../src/errors.js';

describe('forwarding policy and config.toml', () => {
  it('reads a default and per-card settings; other keys are left alone', () => {
    const c = parseForwardingConfig('forwarded = "allow"\nother = 1\n[cards."0006:12345678"]\nforwarded = "deny"\n[cards."cardno:000F_AABBCCDD"]\nforwarded = "confirm"\nlabel = "work"\n');
    expect(c.forwarded).toBe('allow');
    expect([...c.cards]).toEqual([
      ['0006:12345678', 'deny'],
      ['000F:AABBCCDD', 'confirm'],
    ]);
  });

  it('refuses values it does not know, naming the file and the key', () => {
    expect(() => parseForwardingConfig('forwarded = "ask"', '/x/config.toml')).toThrow(ConfigError);
    expect(() => parseForwardingConfig('[cards."0006:1"]\nforwarded = true', '/x/config.toml')).toThrow(/\/x\/config\.toml: cards\."0006:1"\.forwarded must be one of allow, confirm, deny/);
    expect(() => parseForwardingConfig('cards = 3')).toThrow(/\[cards\] must be a table/);
    expect(() => parseForwardingConfig('forwarded = ')).toThrow(ConfigError);
  });

  it('card setting, then --forwarded, then the file default, then confirm', () => {
    const config = parseForwardingConfig('forwarded = "deny"\n[cards."0006:12345678"]\nforwarded = "allow"\n');
    expect(new ForwardingPolicy({ flag: 'confirm', config }).policyFor('0006:12345678')).toBe('allow');
    expect(new ForwardingPolicy({ flag: 'confirm', config }).policyFor('0006:87654321')).toBe('confirm');
    expect(new ForwardingPolicy({ config }).policyFor('0006:87654321')).toBe('deny');
    expect(new ForwardingPolicy({ config }).policyFor(undefined)).toBe('deny');
    expect(new ForwardingPolicy().policyFor('0006:87654321')).toBe(DEFAULT_FORWARDED_POLICY);
    expect(DEFAULT_FORWARDED_POLICY).toBe('confirm');
  });

  it('lives under $XDG_CONFIG_HOME (else ~/.config); a missing file is empty', async () => {
    expect(agentConfigPath({ XDG_CONFIG_HOME: '/cfg', HOME: '/home/u' })).toBe('/cfg/openpgp-card-agent/config.toml');
    expect(agentConfigPath({ HOME: '/home/u' })).toBe('/home/u/.config/openpgp-card-agent/config.toml');
    const dir = mkdtempSync(join(tmpdir(), 'cfg-'));
    try {
      expect(await loadForwardingConfig(join(dir, 'none.toml'))).toEqual({ cards: new Map() });
      writeFileSync(join(dir, 'config.toml'), '[cards."0006:12345678"]\nforwarded = "deny"\n');
      expect((await loadForwardingConfig(join(dir, 'config.toml'))).cards.get('0006:12345678')).toBe('deny');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
