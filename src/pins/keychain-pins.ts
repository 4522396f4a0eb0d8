import type { PinSource } from '../agent/card-key-provider.js';
import type { Logger } from '../log.js';
import type { Secret } from '../secret.js';
import type { CardStateConfig } from './card-state-config.js';
import { KeyringPinStore, NapiKeyringBackend, type KeyringBackend } from './keyring-pin-store.js';
import { PinRegistry } from './pin-registry.js';

export { KEYCHAIN_SERVICE } from './keyring-pin-store.js';
export type { PinLocation } from './pin-registry.js';

/** The agent's earlier names for the keychain backend. */
export type Keychain = KeyringBackend;
export const OsKeychain = NapiKeyringBackend;

/**
 * The PinRegistry in the shape the card key provider asks for (PinSource): memory PINs with a
 * lifetime first, then the OS keychain / openpgp-card-state config, with the known-bad mark.
 */
export class KeychainPins extends PinRegistry implements PinSource {
  constructor(keychain: KeyringBackend, config: CardStateConfig, log: Logger) {
    super({ persistent: new KeyringPinStore({ backend: keychain, config, log }), log });
  }

  /** A PIN known without the keychain (the simulator's): memory only, no lifetime. */
  async preset(ident: string, pin: Secret): Promise<void> {
    await this.memory.set(ident, pin);
  }

  async remember(ident: string, pin: Secret, lifetimeSeconds: number | undefined): Promise<void> {
    await this.set(ident, pin, { lifetimeSeconds });
  }

  async rejected(ident: string): Promise<void> {
    await this.markBad(ident);
  }
}
