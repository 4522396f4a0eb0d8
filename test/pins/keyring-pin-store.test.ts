import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { KeychainError } from '../../src/errors.js';
import { CardStateConfig } from '../../src/pins/card-state-config.js';
import { KEYCHAIN_SERVICE, KeyringPinStore } from '../../src/pins/keyring-pin-store.js';
import { Secret } from '../../src/secret.js';
import { MapKeyring } from './fakes.js';

describe('KeyringPinStore', () => {
  let dir: string;
  let config: CardStateConfig;
  let keyring: MapKeyring;
  let store: KeyringPinStore;

  const writeConfig = async (text: string): Promise<void> => {
    await mkdir(dirname(config.path), { recursive: true });
    await writeFile(config.path, text);
  };

  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'oca-krs-'));
    config = new CardStateConfig(join(dir, 'openpgp-card-state', 'config.toml'));
    keyring = new MapKeyring();
    store = new KeyringPinStore({ backend: keyring, config });
  });
  afterEach(async () => rm(dir, { recursive: true, force: true }));

  it('uses the entry openpgp-card-state uses: service openpgp-card, account = uppercase ident', async () => {
    expect(KEYCHAIN_SERVICE).toBe('openpgp-card');
    await store.set('0006:1234abcd', new Secret('123456'));
    expect([...keyring.entries]).toEqual([['0006:1234ABCD', '123456']]);
    expect((await store.get('0006:1234ABCD'))?.revealString()).toBe('123456');
    expect(await store.location('0006:1234ABCD')).toBe('keychain');
    expect(await readFile(config.path, 'utf8')).toContain('pin_storage = "Keyring"');
    expect(await store.delete('0006:1234ABCD')).toBe(true);
    expect(await store.get('0006:1234ABCD')).toBeUndefined();
    expect(await store.delete('0006:1234ABCD')).toBe(false);
  });

  it('reads a PIN openpgp-card-state stored without a config entry', async () => {
    keyring.entries.set('0006:12345678', '424242');
    expect((await store.get('0006:12345678'))?.revealString()).toBe('424242');
  });

  it('pin_storage = Direct: the PIN comes from config.toml, and delete removes it there', async () => {
    await writeConfig('[[cards]]\nident = "0006:12345678"\npin_storage = "Direct"\npin = "654321"\nnickname = "n"\n');
    keyring.entries.set('0006:12345678', 'stale-keychain-copy');
    expect((await store.get('0006:12345678'))?.revealString()).toBe('654321');
    expect(await store.location('0006:12345678')).toBe('config');
    expect(await store.delete('0006:12345678')).toBe(true);
    expect(await store.get('0006:12345678')).toBeUndefined();
    expect(keyring.entries.size).toBe(0);
    const text = await readFile(config.path, 'utf8');
    expect(text).not.toContain('654321');
    expect(text).toContain('nickname = "n"');
  });

  it('Ephemeral and Pinentry cards (own or default storage) have no stored PIN, even if the keychain holds one', async () => {
    keyring.entries.set('0006:00000001', '111111');
    keyring.entries.set('0006:00000002', '222222');
    await writeConfig('default_pin_storage = "Ephemeral"\n[[cards]]\nident = "0006:00000002"\npin_storage = "Pinentry"\n');
    expect(await store.get('0006:00000001')).toBeUndefined();
    expect(await store.get('0006:00000002')).toBeUndefined();
    expect(keyring.calls.filter((c) => c.startsWith('get'))).toEqual([]);
  });

  it('an unreadable config does not stop the keychain from working', async () => {
    await writeConfig('not = = toml');
    keyring.entries.set('0006:12345678', '123456');
    expect((await store.get('0006:12345678'))?.revealString()).toBe('123456');
    await store.set('0006:12345678', new Secret('777777'));
    expect(keyring.entries.get('0006:12345678')).toBe('777777');
  });

  it('an unreachable keychain is a KeychainError, not a missing PIN', async () => {
    keyring.down = true;
    await expect(store.get('0006:12345678')).rejects.toThrow(KeychainError);
    await expect(store.set('0006:12345678', new Secret('1'))).rejects.toThrow(KeychainError);
    await expect(store.delete('0006:12345678')).rejects.toThrow(KeychainError);
  });
});
