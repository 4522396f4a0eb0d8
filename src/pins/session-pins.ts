import type { PinSource } from '../agent/card-key-provider.js';
import type { Secret } from '../secret.js';

interface Entry {
  pin: Secret;
  timer: NodeJS.Timeout | undefined;
}

/**
 * PINs held in this process only: those given with `ssh-add -s -t` (until their lifetime ends),
 * and, without a keychain, every PIN given with `ssh-add -s` until the agent stops. A PIN the
 * card rejected is marked bad and never handed out again until the user gives a new one.
 */
export class SessionPins implements PinSource {
  private readonly pins = new Map<string, Entry>();
  private readonly bad = new Set<string>();
  /** Called when a lifetime (ssh-add -t) runs out. */
  onExpire: ((ident: string) => void) | undefined;

  async get(ident: string): Promise<Secret | undefined> {
    if (this.bad.has(ident)) return undefined;
    return this.pins.get(ident)?.pin;
  }

  async remember(ident: string, pin: Secret, lifetimeSeconds: number | undefined): Promise<void> {
    this.drop(ident);
    this.bad.delete(ident);
    const timer = lifetimeSeconds === undefined ? undefined : setTimeout(() => {
            this.drop(ident);
            this.onExpire?.(ident);
          }, lifetimeSeconds * 1000);
    timer?.unref();
    this.pins.set(ident, { pin, timer });
  }

  async rejected(ident: string): Promise<void> {
    this.drop(ident);
    this.bad.add(ident);
  }

  async forget(ident: string): Promise<void> {
    this.drop(ident);
    this.bad.delete(ident);
  }

  isKnownBad(ident: string): boolean {
    return this.bad.has(ident);
  }

  has(ident: string): boolean {
    return this.pins.has(ident);
  }

  private drop(ident: string): void {
    const e = this.pins.get(ident);
    if (e === undefined) return;
    if (e.timer !== undefined) clearTimeout(e.timer);
    e.pin.wipe();
    this.pins.delete(ident);
  }
}
