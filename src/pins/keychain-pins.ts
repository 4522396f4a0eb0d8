import type { Logger } from '../log.js';
import type { Notifier } from '../notify/notifier.js';
import type { Secret } from '../secret.js';
import type { CardStateConfig } from './card-state-config.js';
import { KeyringPinStore, OsKeychain, type EphemeralPins, type KeyringBackend } from './keyring-pin-store.js';
import { PinRegistry, type KeepOptions, type SetResult } from './pin-registry.js';
import type { PinSource } from './pin-source.js';

export { KEYCHAIN_SERVICE, OsKeychain } from './keyring-pin-store.js';
export type { PinLocation, PinStatus, SetResult } from './pin-registry.js';
export type { PinSource } from './pin-source.js';

/** The agent's earlier name for the keychain backend. */
export type Keychain = KeyringBackend;

export interface KeychainPinsOptions {
  readonly notifier?: Notifier;
  readonly ephemeral?: EphemeralPins;
}

/**
 * The PinRegistry in the shape the card key provider asks for (PinSource): memory PINs first,
 * then the card's store as openpgp-card-state's config names it (keychain, Direct, Ephemeral),
 * with the known-bad and stale marks.
 */
export class KeychainPins extends PinRegistry implements PinSource {
  private readonly store: KeyringPinStore;

  constructor(keychain: KeyringBackend = new OsKeychain(), config: CardStateConfig, log: Logger, opts: KeychainPinsOptions = {}) {
    const store = new KeyringPinStore({ backend: keychain, config, log, ...(opts.ephemeral === undefined ? {} : { ephemeral: opts.ephemeral }) });
    super({ persistent: store, log, ...(opts.notifier === undefined ? {} : { notifier: opts.notifier }) });
    this.store = store;
  }

  keep(ident: string, pin: Secret, lifetimeSeconds: number | undefined, opts: KeepOptions = {}): Promise<SetResult> {
    return this.set(ident, pin, { lifetimeSeconds, ...opts });
  }

  async rejected(ident: string): Promise<void> {
    await this.markBad(ident);
  }

  async nickname(ident: string): Promise<string | undefined> {
    return (await this.store.cardConfig(ident)).nickname;
  }
}
