import { KeychainError } from '../../src/errors.js';
import type { EphemeralPins, KeyringBackend } from '../../src/pins/keyring-pin-store.js';
import { Secret } from '../../src/secret.js';

/**
 * A keychain in a Map (PINs as text, to compare easily), counting calls; `down` makes every call
 * fail as an unreachable keychain does, `deleteFails` only deletes.
 */
export class MapKeyring implements KeyringBackend {
  readonly entries = new Map<string, string>();
  readonly calls: string[] = [];
  down = false;
  deleteFails = false;

  async get(account: string): Promise<Secret | null> {
    this.check('get', account);
    const v = this.entries.get(account);
    return v === undefined ? null : new Secret(v);
  }

  async set(account: string, pin: Secret): Promise<void> {
    this.check('set', account);
    this.entries.set(account, pin.revealString());
  }

  async delete(account: string): Promise<boolean> {
    this.check('delete', account);
    if (this.deleteFails) throw new KeychainError('the OS keychain could not delete the PIN: org.freedesktop.Secret.Error.IsLocked');
    return this.entries.delete(account);
  }

  private check(op: string, account: string): void {
    this.calls.push(`${op} ${account}`);
    if (this.down) throw new KeychainError('the OS keychain could not do it: org.freedesktop.DBus.Error.ServiceUnknown');
  }
}

/** Ephemeral PINs in a Map with their expiry seconds (the kernel keyring's stand-in). */
export class MapEphemeral implements EphemeralPins {
  readonly entries = new Map<string, { pin: string; seconds: number }>();

  async read(ident: string): Promise<Secret | undefined> {
    const e = this.entries.get(ident);
    return e === undefined ? undefined : new Secret(e.pin);
  }

  async write(ident: string, pin: Secret, seconds: number): Promise<void> {
    this.entries.set(ident, { pin: pin.revealString(), seconds });
  }

  async remove(ident: string): Promise<boolean> {
    return this.entries.delete(ident);
  }
}
