import { KeychainError } from '../../src/errors.js';
import type { KeyringBackend } from '../../src/pins/keyring-pin-store.js';

/** A keychain in a Map, counting calls; `down` makes every call fail as an unreachable keychain does. */
export class MapKeyring implements KeyringBackend {
  readonly entries = new Map<string, string>();
  readonly calls: string[] = [];
  down = false;

  async get(account: string): Promise<string | null> {
    this.check('get', account);
    return this.entries.get(account) ?? null;
  }

  async set(account: string, secret: string): Promise<void> {
    this.check('set', account);
    this.entries.set(account, secret);
  }

  async delete(account: string): Promise<boolean> {
    this.check('delete', account);
    return this.entries.delete(account);
  }

  private check(op: string, account: string): void {
    this.calls.push(`${op} ${account}`);
    if (this.down) throw new KeychainError('the OS keychain could not do it: org.freedesktop.DBus.Error.ServiceUnknown');
  }
}
