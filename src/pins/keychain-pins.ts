import { AsyncEntry } from '@napi-rs/keyring';
import type { PinSource } from '../agent/card-key-provider.js';
import { KeychainError } from '../errors.js';
import type { Logger } from '../log.js';
import { Secret } from '../secret.js';
import type { CardStateConfig } from './card-state-config.js';
import { SessionPins } from './session-pins.js';

/** The keychain entry openpgp-card-state uses: service "openpgp-card", account = the card ident. */
export const KEYCHAIN_SERVICE = 'openpgp-card';

/** The OS keychain, behind an interface so tests can stand in for it. */
export interface Keychain {
  get(account: string): Promise<string | null>;
  set(account: string, secret: string): Promise<void>;
  delete(account: string): Promise<boolean>;
}

/**
 * The keychain through @napi-rs/keyring (Secret Service on Linux, Keychain on macOS, Credential
 * Manager on Windows). Calls are bounded: without a Secret Service they can hang on D-Bus.
 */
export class OsKeychain implements Keychain {
  constructor(private readonly timeoutMs = 5000) {}

  private async call<T>(what: string, op: (signal: AbortSignal) => Promise<T>): Promise<T> {
    const signal = AbortSignal.timeout(this.timeoutMs);
    try {
      return await Promise.race([
        op(signal),
        new Promise<never>((_, reject) => {
          signal.addEventListener('abort', () => reject(new Error(`no answer within ${this.timeoutMs} ms`)), { once: true });
        }),
      ]);
    } catch (err) {
      throw new KeychainError(
        `the OS keychain could not ${what}: ${(err as Error).message}. ` +
          'On Linux this needs a D-Bus session with a Secret Service (gnome-keyring, KeePassXC) that is unlocked.',
        { cause: err },
      );
    }
  }

  get(account: string): Promise<string | null> {
    return this.call('read the PIN', (signal) => new AsyncEntry(KEYCHAIN_SERVICE, account).getPassword(signal));
  }

  set(account: string, secret: string): Promise<void> {
    return this.call('store the PIN', (signal) => new AsyncEntry(KEYCHAIN_SERVICE, account).setPassword(secret, signal));
  }

  delete(account: string): Promise<boolean> {
    return this.call('delete the PIN', (signal) => new AsyncEntry(KEYCHAIN_SERVICE, account).deleteCredential(signal));
  }
}

export type PinLocation = 'memory' | 'keychain' | 'config' | 'none' | 'known-bad';

/**
 * Where card PINs live: PINs with a lifetime (ssh-add -t) in memory only; others in the OS
 * keychain, where openpgp-card-state keeps them too. A PIN the card rejected is marked bad and
 * never handed out again until the user gives a new one.
 */
export class KeychainPins implements PinSource {
  private readonly memory = new SessionPins();
  private readonly bad = new Set<string>();

  constructor(
    private readonly keychain: Keychain,
    private readonly config: CardStateConfig,
    private readonly log: Logger,
  ) {}

  /** Called when a PIN given with a lifetime (ssh-add -t) expires. */
  set onExpire(cb: ((ident: string) => void) | undefined) {
    this.memory.onExpire = cb;
  }

  /** A PIN known without the keychain (the simulator's). */
  async preset(ident: string, pin: Secret): Promise<void> {
    await this.memory.remember(ident, pin, undefined);
  }

  async get(ident: string): Promise<Secret | undefined> {
    if (this.bad.has(ident)) return undefined;
    const mem = await this.memory.get(ident);
    if (mem !== undefined) return mem;
    const card = await this.config.card(ident).catch((err: unknown) => {
      this.log.warn({ err }, 'openpgp-card-state config unreadable; ignoring it');
      return undefined;
    });
    if (card?.pinStorage === 'Direct' && card.directPin !== undefined) return new Secret(card.directPin);
    if (card?.pinStorage === 'Ephemeral' || card?.pinStorage === 'Pinentry') return undefined;
    const stored = await this.keychain.get(ident);
    return stored === null ? undefined : new Secret(stored);
  }

  async remember(ident: string, pin: Secret, lifetimeSeconds: number | undefined): Promise<void> {
    this.bad.delete(ident);
    if (lifetimeSeconds !== undefined) {
      await this.memory.remember(ident, pin, lifetimeSeconds);
      return;
    }
    await this.memory.forget(ident);
    await this.keychain.set(ident, pin.revealString());
    await this.config.recordKeyring(ident).catch((err: unknown) => {
      this.log.warn({ err, path: this.config.path }, 'could not record the card in openpgp-card-state config');
    });
  }

  async rejected(ident: string): Promise<void> {
    this.bad.add(ident);
    await this.memory.forget(ident);
    await this.keychain.delete(ident).catch((err: unknown) => {
      this.log.warn({ err, ident }, 'could not delete the rejected PIN from the keychain; it is marked bad and will not be used');
    });
  }

  async forget(ident: string): Promise<void> {
    this.bad.delete(ident);
    await this.memory.forget(ident);
    await this.keychain.delete(ident);
  }

  /** For `status`: where this card's PIN would come from. */
  async locate(ident: string): Promise<PinLocation> {
    if (this.bad.has(ident)) return 'known-bad';
    if (this.memory.has(ident)) return 'memory';
    const card = await this.config.card(ident).catch(() => undefined);
    if (card?.pinStorage === 'Direct' && card.directPin !== undefined) return 'config';
    return (await this.keychain.get(ident)) === null ? 'none' : 'keychain';
  }
}
