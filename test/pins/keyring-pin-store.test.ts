import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { KeychainError } from '../../src/errors.js';
import { CardStateConfig } from '../../src/pins/card-state-config.js';
import { KEYCHAIN_SERVICE, KeyringPinStore, secretServiceAttributes, secretServiceLabel } from '../../src/pins/keyring-pin-store.js';
import { Secret } from '../../src/secret.js';
import { MapEphemeral, MapKeyring } from './fakes.js';

describe('KeyringPinStore', () => {
  let dir: string;
  let config: CardStateConfig;
  let keyring: MapKeyring;
  let ephemeral: MapEphemeral;
  let store: KeyringPinStore;

  const writeConfig = async (text: string): Promise<void> => {
    await mkdir(dirname(config.path), { recursive: true });
    await writeFile(config.path, text, { mode: 0o600 });
  };

  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'oca-krs-'));
    config = new CardStateConfig(join(dir, 'openpgp-card-state', 'config.toml'));
    keyring = new MapKeyring();
    ephemeral = new MapEphemeral();
    store = new KeyringPinStore({ backend: keyring, config, ephemeral });
  });
  afterEach(async () => rm(dir, { recursive: true, force: true }));

  it('names the entry as openpgp-card-state does: service openpgp-card, user = ident, keyring-rs 3 attributes and label', () => {
    expect(KEYCHAIN_SERVICE).toBe('openpgp-card');
    expect(secretServiceAttributes('0006:1234ABCD')).toEqual({ service: 'openpgp-card', username: '0006:1234ABCD', target: 'default', application: 'rust-keyring' });
    expect(secretServiceLabel('0006:1234ABCD')).toBe('0006:1234ABCD@openpgp-card:default');
  });

  it('Keyring cards: the keychain under the uppercase ident; an unlisted card is recorded for openpgp-card-state', async () => {
    expect(await store.store('0006:1234abcd', new Secret('123456'))).toBe('keychain');
    expect([...keyring.entries]).toEqual([['0006:1234ABCD', '123456']]);
    expect((await store.get('0006:1234ABCD'))?.revealString()).toBe('123456');
    expect(await store.location('0006:1234ABCD')).toBe('keychain');
    expect(await readFile(config.path, 'utf8')).toContain('pin_storage = "Keyring"');
    expect(await store.delete('0006:1234ABCD')).toBe(true);
    expect(await store.get('0006:1234ABCD')).toBeUndefined();
    expect(await store.delete('0006:1234ABCD')).toBe(false);
  });

  it('Direct cards: the PIN comes from config.toml, a new one is written there, and delete drops it (card stays Direct)', async () => {
    await writeConfig('[[cards]]\nident = "0006:12345678"\nnickname = "n"\n[cards.pin_storage]\nDirect = "654321"\n');
    keyring.entries.set('0006:12345678', 'not-read');
    expect((await store.get('0006:12345678'))?.revealString()).toBe('654321');
    expect(await store.location('0006:12345678')).toBe('config');
    expect(await store.store('0006:12345678', new Secret('111222'))).toBe('config');
    expect((await store.get('0006:12345678'))?.revealString()).toBe('111222');
    expect(await store.delete('0006:12345678')).toBe(true);
    expect(await store.get('0006:12345678')).toBeUndefined();
    expect(keyring.calls).toEqual([]);
    const text = await readFile(config.path, 'utf8');
    expect(text).not.toContain('111222');
    expect(text).toContain('pin_storage = "Direct"');
    expect(text).toContain('nickname = "n"');
  });

  it('Ephemeral cards (own or default storage): the kernel keyring, written with pin_expiry', async () => {
    await writeConfig('default_pin_storage = "Ephemeral"\npin_expiry = 90\n');
    ephemeral.entries.set('0006:00000001', { pin: '135790', seconds: 60 });
    expect((await store.get('0006:00000001'))?.revealString()).toBe('135790');
    expect(await store.location('0006:00000001')).toBe('kernel-keyring');
    expect(await store.store('0006:00000002', new Secret('246802'))).toBe('kernel-keyring');
    expect(ephemeral.entries.get('0006:00000002')).toEqual({ pin: '246802', seconds: 90 });
    expect(await store.delete('0006:00000002')).toBe(true);
    expect(keyring.calls).toEqual([]);
  });

  it('Pinentry cards keep no PIN: nothing read, nothing stored', async () => {
    keyring.entries.set('0006:00000002', '222222');
    await writeConfig('[[cards]]\nident = "0006:00000002"\npin_storage = "Pinentry"\n');
    expect(await store.get('0006:00000002')).toBeUndefined();
    expect(await store.store('0006:00000002', new Secret('1'))).toBe('none');
    expect(await store.delete('0006:00000002')).toBe(false);
    expect(keyring.calls).toEqual([]);
    expect((await store.cardConfig('0006:00000002')).storage).toEqual({ kind: 'Pinentry' });
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
