import { EventEmitter } from 'node:events';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Logger } from '../../log.js';
import { isServiceGone, PNP_NOTIFICATION, SCARD, SCARD_RC } from './pcsc-codes.js';
import { PcscError } from './pcsc-errors.js';
import { NativePcsc, type PcscHandle, type ReaderState } from './pcsc-native.js';
import { PcscThread } from './pcsc-thread.js';

export interface PcscMonitorEvents {
  /** A card is in `reader` (newly inserted, or seen at the first look). */
  'card-inserted': [reader: string, atr: Uint8Array];
  /** The card left `reader`, or the reader itself went away, or pcscd did. */
  'card-removed': [reader: string];
  /** After each look at the readers, successful or not. */
  scanned: [];
}

export interface PcscMonitorOptions {
  /** Longest wait between two looks when the system cannot report readers coming and going. */
  readonly pollMs?: number;
  /** Longest backoff while pcscd is away. */
  readonly maxBackoffMs?: number;
  /** Bound on calls that must come back at once (establish, list); a hung pcscd is then reported. */
  readonly callTimeoutMs?: number;
}

/** pcsc-lite counts card events per reader in the high 16 bits of the state. */
const counterOf = (state: number): number => (state & SCARD.STATE_COUNTER_MASK) >>> 16;
const hasCard = (state: number): boolean => (state & SCARD.STATE_PRESENT) !== 0 && (state & SCARD.STATE_MUTE) === 0;

/**
 * Watches pcscd's readers with SCardGetStatusChange on a thread of its own (so nothing is polled
 * on the event loop, and a hung pcscd blocks only that thread): emits card-inserted and
 * card-removed per reader. Readers coming and going wake it through "\\?PnP?\Notification"
 * where the system supports that; otherwise it looks again every `pollMs`. Survives pcscd being
 * absent at start or restarting: it says so once and comes back with backoff.
 */
export class PcscMonitor extends EventEmitter<PcscMonitorEvents> {
  private thread: PcscThread | undefined;
  private context: PcscHandle | undefined;
  private readonly present = new Map<string, { counter: number }>();
  private readonly known = new Map<string, number>();
  private pnpKnown = 0;
  private pnpSupported = true;
  private stopped = true;
  private loop: Promise<void> | undefined;
  private saidUnavailable = false;
  private readonly pollMs: number;
  private readonly maxBackoffMs: number;
  private readonly callTimeoutMs: number;
  private wake: (() => void) | undefined;

  constructor(
    private readonly log: Logger,
    options: PcscMonitorOptions = {},
  ) {
    super();
    this.pollMs = options.pollMs ?? 1000;
    this.maxBackoffMs = options.maxBackoffMs ?? 5000;
    this.callTimeoutMs = options.callTimeoutMs ?? 5000;
  }

  start(): void {
    if (!this.stopped) return;
    this.stopped = false;
    this.thread = new PcscThread('reader monitor', this.log);
    this.loop = this.run();
  }

  private async run(): Promise<void> {
    let backoff = 0;
    let first = true;
    while (!this.stopped) {
      try {
        await this.look(first);
        first = false;
        backoff = 0;
      } catch (err) {
        if (this.stopped) break;
        const code = err instanceof PcscError ? err.pcscCode : undefined;
        if (code === SCARD_RC.E_UNKNOWN_READER || code === SCARD_RC.E_READER_UNAVAILABLE) continue; // a reader left between list and wait
        this.lost(err);
        this.emit('scanned');
        backoff = Math.min(backoff === 0 ? 250 : backoff * 2, this.maxBackoffMs);
        await this.pause(backoff);
      }
    }
  }

  /** One look: (re)establish, list the readers, wait for a change, report. */
  private async look(first: boolean): Promise<void> {
    const thread = this.thread!;
    if (this.context === undefined) {
      this.context = await thread.call('establish', {}, { timeoutMs: this.callTimeoutMs });
      if (this.saidUnavailable) this.log.info('pcscd is back');
      this.saidUnavailable = false;
      first = true;
    }
    const readers = await thread.call('listReaders', {}, { timeoutMs: this.callTimeoutMs });
    for (const r of [...this.known.keys()]) if (!readers.includes(r)) this.known.delete(r);
    const query = [
      ...(this.pnpSupported ? [{ reader: PNP_NOTIFICATION, known: this.pnpKnown }] : []),
      ...readers.map((reader) => ({ reader, known: this.known.get(reader) ?? SCARD.STATE_UNAWARE })),
    ];
    // The first look answers at once; later ones wait for pcscd to report a change.
    const wait = first ? 0 : this.pnpSupported ? SCARD.INFINITE : this.pollMs;
    const states = await thread.call('getStatusChange', { readers: query, timeoutMs: wait });
    if (this.stopped) return;
    if (states === null) {
      // Timed out: the readers did not change; look at the list again.
      if (first) this.report(readers, []);
      return;
    }
    const pnp = this.pnpSupported ? states[0] : undefined;
    if (pnp !== undefined) {
      if ((pnp.eventState & SCARD.STATE_UNKNOWN) !== 0) {
        this.pnpSupported = false;
        this.log.debug('this PC/SC system does not report new readers; looking every second');
      } else {
        this.pnpKnown = pnp.eventState & ~SCARD.STATE_CHANGED;
      }
    }
    this.report(readers, this.pnpSupported ? states.slice(1) : states);
  }

  private report(readers: readonly string[], states: readonly ReaderState[]): void {
    const now = new Map<string, { counter: number; atr: Uint8Array }>();
    for (const s of states) {
      this.known.set(s.reader, s.eventState & ~SCARD.STATE_CHANGED);
      if (hasCard(s.eventState)) now.set(s.reader, { counter: counterOf(s.eventState), atr: s.atr });
    }
    // Readers whose state we did not get this time keep what they had.
    for (const r of readers) {
      const before = this.present.get(r);
      if (!states.some((s) => s.reader === r) && before !== undefined) now.set(r, { counter: before.counter, atr: new Uint8Array(0) });
    }
    for (const [reader, before] of [...this.present]) {
      const after = now.get(reader);
      // A card pulled out and put back between two looks shows as a new event count.
      if (after === undefined || after.counter !== before.counter) {
        this.present.delete(reader);
        this.emit('card-removed', reader);
      }
    }
    for (const [reader, after] of now) {
      if (this.present.has(reader)) continue;
      this.present.set(reader, { counter: after.counter });
      this.emit('card-inserted', reader, after.atr);
    }
    this.emit('scanned');
  }

  private lost(err: unknown): void {
    const gone = err instanceof PcscError && isServiceGone(err.pcscCode);
    const msg = err instanceof Error ? err.message : String(err);
    const ctx = this.context;
    this.context = undefined;
    if (ctx !== undefined && this.thread !== undefined && !this.thread.stuck) void this.thread.call('release', {}, { timeoutMs: this.callTimeoutMs }).catch(() => undefined);
    for (const reader of [...this.present.keys()]) {
      this.present.delete(reader);
      this.emit('card-removed', reader);
    }
    this.known.clear();
    this.pnpKnown = 0;
    if (!this.saidUnavailable) {
      this.saidUnavailable = true;
      this.log.warn({ reason: msg, serviceGone: gone }, 'pcscd is not reachable; cards will appear when it is');
    }
  }

  private pause(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const t = setTimeout(done, ms);
      t.unref();
      function done(): void {
        clearTimeout(t);
        resolve();
      }
      this.wake = done;
    });
  }

  /**
   * Stops watching: cancels the pending wait (SCardCancel) and ends the thread. Bounded: with a
   * hung pcscd the thread stays blocked and is left behind (PcscThread.anyStuck()).
   */
  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    this.wake?.();
    const ctx = this.context;
    if (ctx !== undefined) await Promise.race([NativePcsc.cancelAsync(ctx).catch(() => undefined), sleep(this.callTimeoutMs, undefined, { ref: false })]);
    await Promise.race([this.loop, sleep(this.callTimeoutMs, undefined, { ref: false })]);
    await this.thread?.close();
    this.thread = undefined;
    this.context = undefined;
  }
}
