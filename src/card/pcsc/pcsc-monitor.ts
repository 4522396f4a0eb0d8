import { EventEmitter } from 'node:events';
import type { Logger } from '../../log.js';
import { isServiceGone } from './pcsc-errors.js';
import { smartcard, type PcscContext } from './smartcard-binding.js';

export interface PcscMonitorEvents {
  'card-inserted': [reader: string];
  'card-removed': [reader: string];
  /** After each look at the readers (successful or not). */
  scanned: [];
}

/**
 * Watches pcscd's readers: emits card-inserted / card-removed per reader. Survives pcscd being
 * absent at start and restarting: it says so once and re-establishes its context with backoff.
 * Polling (every `intervalMs`) keeps it independent of how a driver reports hot-plug.
 */
export class PcscMonitor extends EventEmitter<PcscMonitorEvents> {
  private context: PcscContext | undefined;
  private timer: NodeJS.Timeout | undefined;
  private present = new Set<string>();
  private backoffMs = 0;
  private saidUnavailable = false;
  private stopped = false;

  constructor(
    private readonly log: Logger,
    private readonly intervalMs = 250,
  ) {
    super();
  }

  /** The current context (for connecting to a reader), or undefined while pcscd is away. */
  get pcscContext(): PcscContext | undefined {
    return this.context;
  }

  start(): void {
    this.stopped = false;
    this.tick();
  }

  private schedule(ms: number): void {
    if (this.stopped) return;
    this.timer = setTimeout(() => this.tick(), ms);
    this.timer.unref();
  }

  private tick(): void {
    try {
      if (this.context === undefined) {
        this.context = new smartcard.Context();
        if (this.saidUnavailable) this.log.info('pcscd is back');
        this.saidUnavailable = false;
        this.backoffMs = 0;
      }
      const now = new Set<string>();
      for (const r of this.context.listReaders()) {
        if ((r.state & smartcard.SCARD_STATE_PRESENT) !== 0 && (r.state & smartcard.SCARD_STATE_MUTE) === 0) now.add(r.name);
      }
      this.update(now);
      this.schedule(this.intervalMs);
    } catch (err) {
      this.lost(err);
    }
    this.emit('scanned');
  }

  private update(now: Set<string>): void {
    for (const r of this.present) if (!now.has(r)) this.emit('card-removed', r);
    const before = this.present;
    this.present = now;
    for (const r of now) if (!before.has(r)) this.emit('card-inserted', r);
  }

  private lost(err: unknown): void {
    const msg = err instanceof Error ? err.message : String(err);
    if (/No readers available/i.test(msg)) {
      // pcscd runs but has no readers: not an error.
      this.update(new Set());
      this.schedule(this.intervalMs);
      return;
    }
    try {
      this.context?.close();
    } catch {
      // gone already
    }
    this.context = undefined;
    this.update(new Set());
    if (!this.saidUnavailable) {
      this.log.warn({ reason: msg, serviceGone: isServiceGone(err) }, 'pcscd is not reachable; cards will appear when it is');
      this.saidUnavailable = true;
    }
    this.backoffMs = Math.min(this.backoffMs === 0 ? 250 : this.backoffMs * 2, 5000);
    this.schedule(this.backoffMs);
  }

  stop(): void {
    this.stopped = true;
    if (this.timer !== undefined) clearTimeout(this.timer);
    try {
      this.context?.close();
    } catch {
      // ignore
    }
    this.context = undefined;
  }
}
