import { CardUnavailableError, UnsupportedError } from '../errors.js';
import type { Constraint, Identity, KeyProvider, RequestContext } from '../agent/key-provider.js';
import type { Secret } from '../secret.js';

/**
 * A key provider that is not there yet. The daemon listens first and loads the card layer
 * (PC/SC, keychain, notifications: most of its start-up time) afterwards; a request that
 * arrives in between waits for it. If the card layer fails to start, those requests fail.
 */
export class DeferredKeyProvider implements KeyProvider {
  readonly #ready: Promise<KeyProvider>;
  #settle!: { resolve: (p: KeyProvider) => void; reject: (err: unknown) => void };

  constructor() {
    this.#ready = new Promise<KeyProvider>((resolve, reject) => (this.#settle = { resolve, reject }));
    // Nobody may be waiting when it fails; that is not an unhandled rejection.
    this.#ready.catch(() => undefined);
  }

  resolve(provider: KeyProvider): void {
    this.#settle.resolve(provider);
  }

  reject(err: unknown): void {
    this.#settle.reject(new CardUnavailableError(`the card layer did not start: ${err instanceof Error ? err.message : String(err)}`, { cause: err }));
  }

  async listIdentities(ctx: RequestContext): Promise<Identity[]> {
    return (await this.#ready).listIdentities(ctx);
  }

  async sign(keyBlob: Uint8Array, data: Uint8Array, flags: number, ctx: RequestContext): Promise<Uint8Array | null> {
    return (await this.#ready).sign(keyBlob, data, flags, ctx);
  }

  async addSmartcardKey(readerId: string, pin: Secret, constraints: readonly Constraint[], ctx: RequestContext): Promise<void> {
    return (await this.#ready).addSmartcardKey(readerId, pin, constraints, ctx);
  }

  async removeSmartcardKey(readerId: string, pin: Secret, ctx: RequestContext): Promise<void> {
    return (await this.#ready).removeSmartcardKey(readerId, pin, ctx);
  }

  /** ssh-add -D; a provider without it is answered as the agent answers it (failure). */
  async removeAllIdentities(ctx: RequestContext): Promise<void> {
    const p = await this.#ready;
    if (p.removeAllIdentities === undefined) throw new UnsupportedError('card keys are removed with ssh-add -e READER');
    await p.removeAllIdentities(ctx);
  }
}
