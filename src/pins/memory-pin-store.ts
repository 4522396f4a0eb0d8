import type { Secret } from '../secret.js';
import { normalizeIdent, type PinStore } from './pin-store.js';

interface Entry {
  readonly pin: Secret;
  /** Date.now() after which the PIN is gone; undefined: until deleted. */
  readonly expiresAt: number | undefined;
  readonly timer: NodeJS.Timeout | undefined;
}

/**
 * PINs held in this process only, never written anywhere: those given with `ssh-add -s -t`
 * until their lifetime ends. The store keeps its own copy of each PIN and overwrites it on
 * expiry, delete and clear. Timers are unref'd, so a pending expiry never keeps Node alive;
 * the deadline is also checked on every read, since timers fire late after a suspend.
 */
export class MemoryPinStore implements PinStore {
  private readonly pins = new Map<string, Entry>();
  /** Called (after the PIN is wiped) when a lifetime runs out. */
  onExpire: ((ident: string) => void) | undefined;

  constructor(private readonly now: () => number = Date.now) {}

  async get(ident: string): Promise<Secret | undefined> {
    const key = normalizeIdent(ident);
    const e = this.live(key);
    return e === undefined ? undefined : e.pin.clone();
  }

  /** Keeps `pin` (a copy) for `lifetimeSeconds`, or until deleted when no lifetime is given. */
  async set(ident: string, pin: Secret, lifetimeSeconds?: number): Promise<void> {
    const key = normalizeIdent(ident);
    this.drop(key);
    if (lifetimeSeconds !== undefined && (!Number.isFinite(lifetimeSeconds) || lifetimeSeconds <= 0)) {
      throw new RangeError(`PIN lifetime must be a positive number of seconds, got ${lifetimeSeconds}`);
    }
    let timer: NodeJS.Timeout | undefined;
    let expiresAt: number | undefined;
    if (lifetimeSeconds !== undefined) {
      const ms = lifetimeSeconds * 1000;
      expiresAt = this.now() + ms;
      timer = setTimeout(() => this.expire(key), ms);
      timer.unref();
    }
    this.pins.set(key, { pin: pin.clone(), expiresAt, timer });
  }

  async delete(ident: string): Promise<boolean> {
    return this.drop(normalizeIdent(ident));
  }

  has(ident: string): boolean {
    return this.live(normalizeIdent(ident)) !== undefined;
  }

  /** Seconds left for a PIN with a lifetime; undefined without one or when none is held. */
  secondsLeft(ident: string): number | undefined {
    const left = this.remaining(ident);
    return left === 'until-deleted' ? undefined : left;
  }

  /** How long the card's PIN stays: seconds left, 'until-deleted' (no lifetime), or undefined when none is held. */
  remaining(ident: string): number | 'until-deleted' | undefined {
    const e = this.live(normalizeIdent(ident));
    if (e === undefined) return undefined;
    return e.expiresAt === undefined ? 'until-deleted' : Math.max(0, (e.expiresAt - this.now()) / 1000);
  }

  /** The cards a PIN is held for now. */
  idents(): string[] {
    return [...this.pins.keys()].filter((k) => this.live(k) !== undefined);
  }

  /** Wipes every PIN (agent shutdown, ssh-add -D style). */
  clear(): void {
    for (const key of [...this.pins.keys()]) this.drop(key);
  }

  private live(key: string): Entry | undefined {
    const e = this.pins.get(key);
    if (e?.expiresAt !== undefined && this.now() >= e.expiresAt) {
      this.expire(key);
      return undefined;
    }
    return e;
  }

  private expire(key: string): void {
    if (this.drop(key)) this.onExpire?.(key);
  }

  private drop(key: string): boolean {
    const e = this.pins.get(key);
    if (e === undefined) return false;
    if (e.timer !== undefined) clearTimeout(e.timer);
    e.pin.wipe();
    this.pins.delete(key);
    return true;
  }
}
