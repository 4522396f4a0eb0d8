import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';
import { CardUnavailableError } from '../../errors.js';
import type { Logger } from '../../log.js';
import { PcscError, PcscTimeoutError } from './pcsc-errors.js';
import { SHARED_SLOTS, type RequestArgs, type WorkerOp, type WorkerReply, type WorkerRequest, type WorkerResults } from './pcsc-thread-protocol.js';

interface Pending {
  readonly op: WorkerOp;
  readonly resolve: (v: unknown) => void;
  readonly reject: (e: Error) => void;
  timer: NodeJS.Timeout | undefined;
  /** Its caller was answered with a timeout; the worker's answer is still to come. */
  givenUp: boolean;
}

export interface CallOptions {
  /** Give up after this long (the worker may stay blocked; later calls queue behind it). */
  readonly timeoutMs?: number;
  /** For a transmit that begins a transaction: the bound on waiting for that transaction. */
  readonly beginTimeoutMs?: number;
}

/** Threads whose worker has not exited yet. */
const running = new Set<PcscThread>();

/** Where the worker's compiled script is: next to this file, or under dist/ when run from src/ (tests). */
function workerScript(): URL {
  const here = new URL('./pcsc-worker.js', import.meta.url);
  if (existsSync(fileURLToPath(here))) return here;
  return new URL(here.href.replace('/src/card/pcsc/', '/dist/card/pcsc/'));
}

/**
 * One PC/SC worker thread (one context) seen from the event loop: calls go in order, each with
 * an optional bound. A call that outlives its bound fails with PcscTimeoutError; the thread may
 * stay blocked in C (a hung pcscd), which `stuck` reports. Nothing here ever blocks the loop.
 */
export class PcscThread {
  private readonly worker: Worker;
  private readonly pending = new Map<number, Pending>();
  /** Shared with the worker: SHARED_SLOTS.ABANDONED (ours to write), SHARED_SLOTS.BEGUN (the worker's). */
  private readonly shared: Int32Array;
  private nextId = 1;
  private dead: Error | undefined;
  /** Calls given up on whose answers are still to come. */
  private overdue = 0;

  constructor(
    readonly name: string,
    private readonly log: Logger,
  ) {
    const shared = new SharedArrayBuffer(4 * SHARED_SLOTS.COUNT);
    this.shared = new Int32Array(shared);
    this.worker = new Worker(workerScript(), { workerData: { shared }, name: `pcsc ${name}` });
    this.worker.unref();
    this.worker.on('message', (msg: WorkerReply) => this.onReply(msg));
    this.worker.on('error', (err) => this.fail(new CardUnavailableError(`PC/SC thread for ${name} failed: ${err.message}`, { cause: err })));
    this.worker.on('exit', (code) => {
      running.delete(this);
      this.fail(new CardUnavailableError(`PC/SC thread for ${name} exited (${code})`));
    });
    running.add(this);
  }

  /** True while a call that was given up on has not come back: the thread is blocked in C. */
  get stuck(): boolean {
    return this.overdue > 0;
  }

  /**
   * Whether a PC/SC thread is still running: at exit that means one is blocked in C (a hung pcscd),
   * and process.exit() would wait for it for ever (the CLI then exits without waiting).
   */
  static anyRunning(): boolean {
    return running.size > 0;
  }

  call<K extends WorkerOp>(op: K, args: RequestArgs<K>, options: CallOptions = {}): Promise<WorkerResults[K]> {
    if (this.dead !== undefined) return Promise.reject(this.dead);
    const id = this.nextId++;
    const begins = (op === 'transmit' || op === 'transmitSeries') && (args as unknown as RequestArgs<'transmit'>).begin;
    return new Promise<WorkerResults[K]>((resolve, reject) => {
      const entry: Pending = { op, resolve: resolve as (v: unknown) => void, reject, timer: undefined, givenUp: false };
      const arm = (ms: number | undefined, onTime: () => void): void => {
        if (ms === undefined) return;
        entry.timer = setTimeout(onTime, ms);
        entry.timer.unref();
      };
      if (begins) {
        // First the wait for other applications' transactions; once the worker says the
        // transaction began (shared memory, no message), the card gets its own time.
        arm(options.beginTimeoutMs ?? options.timeoutMs, () => {
          if (Atomics.load(this.shared, SHARED_SLOTS.BEGUN) >= id) {
            arm(options.timeoutMs, () => this.giveUp(id, op, options.timeoutMs ?? 0));
          } else this.giveUp(id, 'begin', options.beginTimeoutMs ?? options.timeoutMs ?? 0);
        });
      } else arm(options.timeoutMs, () => this.giveUp(id, op, options.timeoutMs ?? 0));
      this.pending.set(id, entry);
      this.worker.postMessage({ id, op, ...args } as WorkerRequest);
    });
  }

  private giveUp(id: number, what: string, ms: number): void {
    const p = this.pending.get(id);
    if (p === undefined) return;
    p.timer = undefined;
    // Keep the entry: its late answer tells us the thread is free again.
    p.givenUp = true;
    this.overdue++;
    if (what === 'begin') {
      // The worker checks this after SCardBeginTransaction returns and lets the card go at once.
      Atomics.store(this.shared, SHARED_SLOTS.ABANDONED, Math.max(Atomics.load(this.shared, SHARED_SLOTS.ABANDONED), id));
    }
    this.log.debug({ thread: this.name, op: p.op, what, ms }, 'PC/SC call given up on');
    p.reject(new PcscTimeoutError(p.op, what, ms));
  }

  private onReply(msg: WorkerReply): void {
    const p = this.pending.get(msg.id);
    if (p === undefined) return;
    this.pending.delete(msg.id);
    if (p.timer !== undefined) clearTimeout(p.timer);
    if (p.givenUp) {
      this.overdue--;
      this.log.debug({ thread: this.name, op: p.op, ok: msg.ok }, 'PC/SC call given up on has come back');
      return;
    }
    if (msg.ok) p.resolve(msg.value);
    else if (msg.error.kind === 'pcsc') p.reject(new PcscError(msg.error.fn, msg.error.code));
    else p.reject(new CardUnavailableError(`PC/SC thread ${this.name}: ${msg.error.message}`));
  }

  private fail(err: Error): void {
    if (this.dead !== undefined) return;
    this.dead = err;
    for (const [, p] of this.pending) {
      if (p.timer !== undefined) clearTimeout(p.timer);
      if (!p.givenUp) p.reject(err);
    }
    this.pending.clear();
  }

  /**
   * Stops the thread. One blocked in C cannot be stopped: it is left behind, unref'd, and
   * anyRunning() tells the CLI to exit without waiting for it.
   */
  async close(): Promise<void> {
    if (this.dead !== undefined) return;
    const busy = this.pending.size > 0;
    this.fail(new CardUnavailableError(`PC/SC thread for ${this.name} was closed`));
    if (!busy) await this.worker.terminate();
    else void this.worker.terminate();
  }
}
