import { mkdir, mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { parse } from 'smol-toml';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ConfigError } from '../../src/errors.js';
import { CardStateConfig, cardStateConfigPath } from '../../src/pins/card-state-config.js';

describe('openpgp-card-state config.toml', () => {
  let xdg: string;
  let config: CardStateConfig;

  beforeEach(async () => {
    xdg = await mkdtemp(join(tmpdir(), 'oca-cfg-'));
    config = new CardStateConfig(cardStateConfigPath({ XDG_CONFIG_HOME: xdg, HOME: '/nonexistent' }, 'linux'));
  });
  afterEach(async () => rm(xdg, { recursive: true, force: true }));

  it('lives in openpgp-card-state/config.toml under the config dir of each platform', () => {
    expect(cardStateConfigPath({ XDG_CONFIG_HOME: '/x/cfg', HOME: '/home/u' }, 'linux')).toBe('/x/cfg/openpgp-card-state/config.toml');
    expect(cardStateConfigPath({ HOME: '/home/u' }, 'linux')).toBe('/home/u/.config/openpgp-card-state/config.toml');
    // XDG says a relative XDG_CONFIG_HOME is ignored.
    expect(cardStateConfigPath({ XDG_CONFIG_HOME: 'rel', HOME: '/home/u' }, 'linux')).toBe('/home/u/.config/openpgp-card-state/config.toml');
    expect(cardStateConfigPath({ HOME: '/Users/u' }, 'darwin')).toBe('/Users/u/Library/Application Support/rs.openpgp-card-state/config.toml');
  });

  it('reads nothing from a missing file, and creates it (owner-only) when a card is recorded', async () => {
    expect(await config.card('0006:12345678')).toBeUndefined();
    expect(await config.defaultPinStorage()).toBe('Keyring');
    await config.recordKeyring('0006:1234abcd');
    const doc = parse(await readFile(config.path, 'utf8'));
    expect(doc).toEqual({ cards: [{ ident: '0006:1234ABCD', pin_storage: 'Keyring' }] });
    expect((await stat(config.path)).mode & 0o777).toBe(0o600);
    expect(await config.card('0006:1234ABCD')).toEqual({ ident: '0006:1234ABCD', pinStorage: 'Keyring', nickname: undefined, directPin: undefined });
  });

  it('round trip: recording a card keeps other cards, their fields and the top-level settings', async () => {
    await mkdir(dirname(config.path), { recursive: true });
    await writeFile(
      config.path,
      [
        'default_pin_storage = "Ephemeral"',
        'pin_expiry = 300',
        'extra_key = [1, 2]',
        '',
        '[[cards]]',
        'ident = "0006:11111111"',
        'pin_storage = "Direct"',
        'pin = "654321"',
        'nickname = "other card"',
        '',
        '[[cards]]',
        'ident = "000f:abcdef01"',
        'nickname = "mine"',
        'pin_storage = "Pinentry"',
        'future_field = true',
        '',
      ].join('\n'),
    );
    expect(await config.defaultPinStorage()).toBe('Ephemeral');
    expect(await config.card('000F:ABCDEF01')).toMatchObject({ pinStorage: 'Pinentry', nickname: 'mine' });
    await config.recordKeyring('000F:ABCDEF01');
    await config.recordKeyring('0006:22222222');
    const doc = parse(await readFile(config.path, 'utf8'));
    expect(doc).toEqual({
      default_pin_storage: 'Ephemeral',
      pin_expiry: 300,
      extra_key: [1, 2],
      cards: [
        { ident: '0006:11111111', pin_storage: 'Direct', pin: '654321', nickname: 'other card' },
        // Its ident keeps the spelling the user wrote; the storage is what changed.
        { ident: '000f:abcdef01', nickname: 'mine', pin_storage: 'Keyring', future_field: true },
        { ident: '0006:22222222', pin_storage: 'Keyring' },
      ],
    });
  });

  it('reads a Direct PIN, drops it on request, and leaves the file alone when there is nothing to change', async () => {
    await mkdir(dirname(config.path), { recursive: true });
    await writeFile(config.path, '[[cards]]\nident = "0006:11111111"\npin_storage = "Direct"\npin = "654321"\n');
    expect((await config.card('0006:11111111'))?.directPin).toBe('654321');
    expect(await config.storageFor('0006:11111111')).toBe('Direct');
    expect(await config.storageFor('0006:99999999')).toBe('Keyring');
    expect(await config.dropDirectPin('0006:11111111')).toBe(true);
    expect(await config.dropDirectPin('0006:11111111')).toBe(false);
    expect(parse(await readFile(config.path, 'utf8'))).toEqual({ cards: [{ ident: '0006:11111111', pin_storage: 'Direct' }] });
    await config.recordKeyring('0006:11111111');
    const once = await stat(config.path);
    await config.recordKeyring('0006:11111111');
    expect((await stat(config.path)).mtimeMs).toBe(once.mtimeMs);
  });

  it('a file that is not TOML is a ConfigError naming the path, and is never overwritten', async () => {
    await mkdir(dirname(config.path), { recursive: true });
    await writeFile(config.path, 'this is = = not toml');
    await expect(config.card('0006:12345678')).rejects.toThrow(ConfigError);
    await expect(config.recordKeyring('0006:12345678')).rejects.toThrow(config.path);
    expect(await readFile(config.path, 'utf8')).toBe('this is = = not toml');
  });
});
