import type { Socket } from 'node:net';
import type { Logger } from '../log.js';
import type { ConnectionContext, FrameHandler, PeerInfo } from './frame-handler.js';
import { AGENT_MAX_LEN, FrameSplitter, encodeFrame } from './framing.js';

/**
 * Bytes held for requests across all connections (incomplete frames and complete ones waiting
 * their turn). A connection that pushes the total over the limit is closed.
 */
export class ByteBudget {
  #used = 0;
  constructor(readonly limit: number) {}

  get used(): number {
    return this.#used;
  }

  /** Adds (or with a negative `n`, returns) bytes; false when the total is now over the limit. */
  adjust(n: number): boolean {
    this.#used += n;
    return this.#used <= this.limit;
  }
}

/** draft-miller-ssh-agent §3.3 SSH_AGENT_FAILURE: the reply when the handler breaks its contract. */
const FAILURE_BODY = Uint8Array.of(5);

/** Pause reading when this many requests are queued on one connection; resume at the low mark. */
const QUEUE_HIGH = 64;
const QUEUE_LOW = 16;

/** Errors that just mean the peer went away; logged at debug. */
const PEER_GONE = new Set(['EPIPE', 'ECONNRESET', 'ERR_STREAM_DESTROYED', 'ERR_STREAM_WRITE_AFTER_END']);

const CLOSE = Symbol('close');

/** Orders the moments connections started holding an incomplete frame (no clock needed). */
let partialFrameSeq = 0;

/**
 * One client connection. Requests are handled one at a time, in arrival order, so replies leave
 * in request order even when the client pipelines; the next request starts once the previous
 * reply is written (and the socket has drained).
 */
export class AgentConnection {
  readonly context: ConnectionContext;
  /** Resolves once the socket is closed and the handler's connectionClosed has run. */
  readonly closed: Promise<void>;
  readonly #socket: Socket;
  readonly #handler: FrameHandler;
  readonly #splitter: FrameSplitter;
  readonly #queue: Array<Uint8Array | typeof CLOSE> = [];
  #busy = false;
  #eof = false;
  #readingStopped = false;
  #paused = false;
  #isClosed = false;
  readonly #budget: ByteBudget;
  readonly #serverLog: Logger;
  /** Bytes this connection has counted in the budget. */
  #held = 0;
  /** When (in partialFrameSeq order) the incomplete frame held now began; undefined on a frame boundary. */
  #partialSince: number | undefined;

  constructor(
    socket: Socket,
    id: number,
    handler: FrameHandler,
    serverLog: Logger,
    maxLen = AGENT_MAX_LEN,
    peer?: PeerInfo,
    budget: ByteBudget = new ByteBudget(Number.POSITIVE_INFINITY),
  ) {
    this.#socket = socket;
    this.#handler = handler;
    this.#budget = budget;
    // The child logger is made on first use: thousands of idle connections should not each
    // carry one (the agent asks for it only when it logs about the connection).
    let log: Logger | undefined;
    this.context = {
      id,
      get log(): Logger {
        log ??= serverLog.child({ conn: id });
        return log;
      },
      ...(peer === undefined ? {} : { peer }),
    };
    this.#serverLog = serverLog;
    this.#splitter = new FrameSplitter((body) => this.#enqueue(body), maxLen);
    this.closed = new Promise((resolve) => {
      socket.once('close', () => {
        this.#isClosed = true;
        this.#queue.length = 0;
        this.#budget.adjust(-this.#held);
        this.#held = 0;
        this.#serverLog.debug({ conn: this.context.id }, 'connection closed');
        try {
          handler.connectionClosed?.(this.context);
        } catch (err) {
          this.#serverLog.error({ conn: this.context.id, err }, 'connectionClosed handler failed');
        }
        resolve();
      });
    });
    socket.on('data', (chunk: Buffer) => this.#onData(chunk));
    socket.on('end', () => this.#onEnd());
    socket.on('error', (err: NodeJS.ErrnoException) => {
      if (err.code !== undefined && PEER_GONE.has(err.code)) this.#serverLog.debug({ conn: this.context.id, code: err.code }, 'peer went away');
      else this.#serverLog.warn({ conn: this.context.id, err }, 'socket error; closing connection');
    });
    this.#serverLog.debug({ conn: this.context.id }, 'connection opened');
  }

  /** True while a request is being handled. */
  get busy(): boolean {
    return this.#busy;
  }

  /**
   * Where this connection stands among those waiting for the rest of a frame: smaller is older;
   * undefined when it holds no incomplete frame.
   */
  get partialFrameSince(): number | undefined {
    return this.#partialSince;
  }

  /**
   * Graceful stop: read no more requests, drop the ones not yet started, and close once the
   * request in hand (if any) has been answered.
   */
  shutdown(): void {
    this.#stopReading();
    this.#queue.length = 0;
    if (!this.#busy) this.#close();
    else this.#queue.push(CLOSE);
  }

  /** Closes at once, abandoning any request in hand. */
  destroy(): void {
    this.#socket.destroy();
  }

  /** Ends the socket once pending writes are flushed, then closes it fully. */
  #close(): void {
    const socket = this.#socket;
    if (socket.destroyed) return;
    socket.end(() => socket.destroy());
  }

  #onData(chunk: Buffer): void {
    if (this.#readingStopped) return;
    try {
      this.#splitter.push(chunk);
      if (this.#splitter.buffered === 0) this.#partialSince = undefined;
      else this.#partialSince ??= ++partialFrameSeq;
      // The splitter copied what it needs; the read buffer may hold a PIN or passphrase.
      chunk.fill(0);
    } catch (err) {
      // An oversize length prefix: OpenSSH's agent drops such a client and so do we. Requests
      // that arrived complete before it are still answered.
      this.#serverLog.warn({ conn: this.context.id, err: (err as Error).message }, 'oversize frame; closing connection');
      this.#stopReading();
      this.#enqueueClose();
    }
    if (!this.#account()) {
      this.#serverLog.warn({ conn: this.context.id, buffered: this.#budget.used, limit: this.#budget.limit }, 'too many request bytes held across connections; closing this one');
      this.#stopReading();
      this.#queue.length = 0;
      this.#socket.destroy();
    }
  }

  /** Brings this connection's share of the budget up to date; false if the total is over. */
  #account(): boolean {
    let held = this.#splitter.allocated;
    for (const item of this.#queue) if (item !== CLOSE) held += item.length;
    const ok = this.#budget.adjust(held - this.#held);
    this.#held = held;
    return ok;
  }

  #onEnd(): void {
    this.#eof = true;
    if (this.#splitter.buffered > 0) {
      this.#serverLog.debug({ conn: this.context.id, buffered: this.#splitter.buffered }, 'client closed mid-frame');
    }
    this.#enqueueClose();
  }

  #enqueue(body: Uint8Array): void {
    this.#queue.push(body);
    if (this.#queue.length >= QUEUE_HIGH && !this.#paused) {
      this.#paused = true;
      this.#socket.pause();
    }
    void this.#pump();
  }

  #enqueueClose(): void {
    this.#queue.push(CLOSE);
    void this.#pump();
  }

  #stopReading(): void {
    this.#readingStopped = true;
    this.#socket.pause();
  }

  async #pump(): Promise<void> {
    if (this.#busy) return;
    this.#busy = true;
    try {
      while (this.#queue.length > 0 && !this.#isClosed) {
        const item = this.#queue.shift();
        if (item !== undefined && item !== CLOSE && !this.#isClosed) {
          this.#budget.adjust(-item.length);
          this.#held -= item.length;
        }
        if (this.#paused && this.#queue.length <= QUEUE_LOW && !this.#readingStopped) {
          this.#paused = false;
          this.#socket.resume();
        }
        if (item === undefined) break;
        if (item === CLOSE) {
          this.#queue.length = 0;
          this.#close();
          break;
        }
        const reply = await this.#handle(item);
        if (this.#isClosed) break;
        if (reply === null) {
          this.#serverLog.debug({ conn: this.context.id }, 'handler asked to close the connection');
          this.#queue.length = 0;
          this.#close();
          break;
        }
        await this.#write(encodeFrame(reply));
      }
    } finally {
      this.#busy = false;
    }
    if (this.#eof && this.#queue.length === 0 && !this.#isClosed) this.#close();
  }

  async #handle(body: Uint8Array): Promise<Uint8Array | null> {
    try {
      return await this.#handler.handleFrame(body, this.context);
    } catch (err) {
      // The handler promised not to throw; answer FAILURE rather than lose the connection.
      this.#serverLog.error({ conn: this.context.id, err }, 'frame handler threw; replying SSH_AGENT_FAILURE');
      return FAILURE_BODY;
    }
  }

  #write(frame: Uint8Array): Promise<void> {
    const socket = this.#socket;
    if (socket.destroyed || !socket.writable) return Promise.resolve();
    if (socket.write(frame)) return Promise.resolve();
    return new Promise((resolve) => {
      const done = (): void => {
        socket.off('drain', done);
        socket.off('close', done);
        resolve();
      };
      socket.on('drain', done);
      socket.on('close', done);
    });
  }
}
