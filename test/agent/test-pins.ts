import pino from 'pino';
import { MemoryPinStore } from '../../src/pins/memory-pin-store.js';
import { PinRegistry, type KeepOptions, type SetResult } from '../../src/pins/pin-registry.js';
import type { PinSource } from '../../src/pins/pin-source.js';
import type { Secret } from '../../src/secret.js';

/**
 * The real PinRegistry (memory PINs, known-bad and stale marks, lifetimes) over an in-memory
 * "keychain", in the PinSource shape the provider takes: the provider's unit tests exercise the
 * same PIN rules the daemon runs, without an OS keychain.
 */
export class TestPins extends PinRegistry implements PinSource {
  readonly keychain: MemoryPinStore;

  constructor() {
    const keychain = new MemoryPinStore();
    super({ persistent: keychain, log: pino({ level: 'silent' }) });
    this.keychain = keychain;
  }

  keep(ident: string, pin: Secret, lifetimeSeconds: number | undefined, opts: KeepOptions = {}): Promise<SetResult> {
    return this.set(ident, pin, { lifetimeSeconds, ...opts });
  }

  async rejected(ident: string): Promise<void> {
    await this.markBad(ident);
  }

  async nickname(_ident: string): Promise<string | undefined> {
    return undefined;
  }
}
