import { chmod, mkdir, mkdtemp, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { Writable } from 'node:stream';
import pino from 'pino';
import { parse } from 'smol-toml';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ConfigError } from '../../src/errors.js';
import { CardStateConfig, cardStateConfigPath, ephemeralKeyDescription, parsePinStorage } from '../../src/pins/card-state-config.js';
import { Secret } from '../../src/secret.js';

describe('openpgp-card-state config.toml', () => {
  let xdg: string;
  let config: CardStateConfig;
  let logged: string;

  const write = async (text: string): Promise<void> => {
    await mkdir(dirname(config.path), { recursive: true });
    await writeFile(config.path, text, { mode: 0o600 });
  };

  beforeEach(async () => {
    xdg = await mkdtemp(join(tmpdir(), 'oca-cfg-'));
    logged = '';
    const sink = new Writable({
      write(chunk: Buffer, _enc, cb) {
        logged += chunk.toString('utf8');
        cb();
      },
    });
    config = new CardStateConfig(cardStateConfigPath({ XDG_CONFIG_HOME: xdg, HOME: '/nonexistent' }, 'linux'), { log: pino({ level: 'debug' }, sink) });
  });
  afterEach(async () => rm(xdg, { recursive: true, force: true }));

  it('lives where confy 2 puts it: XDG on Linux and macOS, %APPDATA%\\openpgp-card-state\\config on Windows', () => {
    expect(cardStateConfigPath({ XDG_CONFIG_HOME: '/x/cfg', HOME: '/home/u' }, 'linux')).toBe('/x/cfg/openpgp-card-state/config.toml');
    expect(cardStateConfigPath({ HOME: '/home/u' }, 'linux')).toBe('/home/u/.config/openpgp-card-state/config.toml');
    // etcetera ignores a relative XDG_CONFIG_HOME.
    expect(cardStateConfigPath({ XDG_CONFIG_HOME: 'rel', HOME: '/home/u' }, 'linux')).toBe('/home/u/.config/openpgp-card-state/config.toml');
    expect(cardStateConfigPath({ HOME: '/Users/u' }, 'darwin')).toBe('/Users/u/.config/openpgp-card-state/config.toml');
    expect(cardStateConfigPath({ HOME: '/Users/u', XDG_CONFIG_HOME: '/Users/u/cfg' }, 'darwin')).toBe('/Users/u/cfg/openpgp-card-state/config.toml');
    expect(cardStateConfigPath({ APPDATA: 'C:\\Users\\u\\AppData\\Roaming', HOME: 'C:\\Users\\u' }, 'win32')).toMatch(
      /^C:\\Users\\u\\AppData\\Roaming[\\/]openpgp-card-state[\\/]config[\\/]config\.toml$/,
    );
  });

  it('pin_storage as serde writes it: unit variants as strings, Direct as a newtype table; lowercase read too', () => {
    expect(parsePinStorage('Keyring')).toEqual({ kind: 'Keyring' });
    expect(parsePinStorage('keyring')).toEqual({ kind: 'Keyring' });
    expect(parsePinStorage('ephemeral')).toEqual({ kind: 'Ephemeral' });
    expect(parsePinStorage('Pinentry')).toEqual({ kind: 'Pinentry' });
    expect(parsePinStorage({ Pinentry: '/usr/bin/pinentry-gnome3' })).toEqual({ kind: 'Pinentry', program: '/usr/bin/pinentry-gnome3' });
    const direct = parsePinStorage({ Direct: '123456' });
    expect(direct?.kind).toBe('Direct');
    expect(direct?.kind === 'Direct' && direct.pin?.revealString()).toBe('123456');
    expect(parsePinStorage({ direct: '654321' })?.kind).toBe('Direct');
    expect(parsePinStorage('Direct')).toEqual({ kind: 'Direct', pin: undefined });
    expect(parsePinStorage('Sideways')).toBeUndefined();
    expect(parsePinStorage({ Direct: '1', Keyring: '2' })).toBeUndefined();
  });

  it('a card: its own storage (missing = Keyring), else default_pin_storage for unlisted cards, else Keyring; nickname; pin_expiry', async () => {
    expect(await config.card('0006:12345678')).toEqual({ ident: '0006:12345678', nickname: undefined, storage: { kind: 'Keyring' }, listed: false });
    expect(await config.pinExpirySeconds()).toBe(60);
    await write(
      [
        'default_pin_storage = "Ephemeral"',
        'pin_expiry = 300',
        '[[cards]]',
        'ident = "0006:11111111"',
        'nickname = "work"',
        '[[cards]]',
        'ident = "6:2222222"',
        'pin_storage = "pinentry"',
        '[[cards]]',
        'ident = "0006:33333333"',
        '[cards.pin_storage]',
        'Direct = "123456"',
        '',
      ].join('\n'),
    );
    expect(await config.card('0006:11111111')).toEqual({ ident: '0006:11111111', nickname: 'work', storage: { kind: 'Keyring' }, listed: true });
    expect((await config.card('0006:02222222')).storage).toEqual({ kind: 'Pinentry' });
    const direct = (await config.card('0006:33333333')).storage;
    expect(direct.kind === 'Direct' && direct.pin?.revealString()).toBe('123456');
    expect(await config.card('0006:99999999')).toMatchObject({ storage: { kind: 'Ephemeral' }, listed: false });
    expect(await config.pinExpirySeconds()).toBe(300);
    expect(ephemeralKeyDescription('0006:33333333')).toBe('keyring-rs:0006:33333333@openpgp-card');
  });

  it('records a Keyring card once, creating the file owner-only, and never changes a listed card', async () => {
    expect(await config.recordKeyring('0006:1234abcd')).toBe(true);
    expect(parse(await readFile(config.path, 'utf8'))).toEqual({ cards: [{ ident: '0006:1234ABCD', pin_storage: 'Keyring' }] });
    expect((await stat(config.path)).mode & 0o777).toBe(0o600);
    const once = await stat(config.path);
    expect(await config.recordKeyring('0006:1234ABCD')).toBe(false);
    expect((await stat(config.path)).mtimeMs).toBe(once.mtimeMs);
  });

  it('writes keep every other table and field, and leave no temporary file behind', async () => {
    await write(
      [
        'default_pin_storage = "Keyring"',
        'pin_expiry = 300',
        'extra_key = [1, 2]',
        '[[cards]]',
        'ident = "000f:abcdef01"',
        'nickname = "mine"',
        'pin_storage = "Pinentry"',
        'future_field = true',
        '[other_tool]',
        'x = "y"',
        '',
      ].join('\n'),
    );
    await config.recordKeyring('0006:22222222');
    await config.setDirectPin('0006:33333333', new Secret('424242'));
    expect(parse(await readFile(config.path, 'utf8'))).toEqual({
      default_pin_storage: 'Keyring',
      pin_expiry: 300,
      extra_key: [1, 2],
      cards: [
        { ident: '000f:abcdef01', nickname: 'mine', pin_storage: 'Pinentry', future_field: true },
        { ident: '0006:22222222', pin_storage: 'Keyring' },
        { ident: '0006:33333333', pin_storage: { Direct: '424242' } },
      ],
      other_tool: { x: 'y' },
    });
    // The Direct PIN is written the way openpgp-card-state writes it.
    expect(await readFile(config.path, 'utf8')).toContain('[cards.pin_storage]\nDirect = "424242"');
    expect(await readdir(dirname(config.path))).toEqual(['config.toml']);
  });

  it('concurrent writes are applied one at a time: none is lost', async () => {
    await Promise.all(Array.from({ length: 20 }, (_, i) => config.recordKeyring(`0006:${String(i).padStart(8, '0')}`)));
    const doc = parse(await readFile(config.path, 'utf8')) as { cards: unknown[] };
    expect(doc.cards).toHaveLength(20);
  });

  it('drops a Direct PIN but keeps the card Direct (the user chose that storage)', async () => {
    await write('[[cards]]\nident = "0006:11111111"\nnickname = "n"\n[cards.pin_storage]\nDirect = "654321"\n');
    expect(await config.dropDirectPin('0006:11111111')).toBe(true);
    expect(await config.dropDirectPin('0006:11111111')).toBe(false);
    expect(parse(await readFile(config.path, 'utf8'))).toEqual({ cards: [{ ident: '0006:11111111', nickname: 'n', pin_storage: 'Direct' }] });
    expect((await config.card('0006:11111111')).storage).toEqual({ kind: 'Direct', pin: undefined });
  });

  it('a Direct PIN in a file group or others can read is warned about (once per mode)', async () => {
    await write('[[cards]]\nident = "0006:11111111"\n[cards.pin_storage]\nDirect = "654321"\n');
    await config.card('0006:11111111');
    expect(logged).toBe('');
    await chmod(config.path, 0o644);
    await config.card('0006:11111111');
    await config.card('0006:11111111');
    const warnings = logged.split('\n').filter((l) => l.includes('chmod 600'));
    expect(warnings).toHaveLength(1);
    expect(warnings[0]).toContain('"mode":"0644"');
    expect(logged).not.toContain('654321');
  });

  it('a file that is not TOML is a ConfigError naming the path, and is never overwritten', async () => {
    await write('this is = = not toml');
    await expect(config.card('0006:12345678')).rejects.toThrow(ConfigError);
    await expect(config.recordKeyring('0006:12345678')).rejects.toThrow(config.path);
    expect(await readFile(config.path, 'utf8')).toBe('this is = = not toml');
  });
});
