import { chmod, rmdir, stat, unlink } from 'node:fs/promises';
import { dirname } from 'node:path';
import { createServer, type Server, type Socket } from 'node:net';
import { DEFAULT_MAX_CONNECTIONS } from '../agent/defaults.js';
import { AlreadyRunningError } from '../errors.js';
import { getLogger, type Logger } from '../log.js';
import { NativeUnavailableError } from '../os/ffi.js';
import { peerAllowed, peerCredentials, programName, socketFd, type PeerCredentials } from '../os/peer-credentials.js';
import { AgentConnection, ByteBudget } from './connection.js';
import { OpenFileLimitWatch } from './fd-limit.js';
import type { FrameHandler, PeerInfo } from './frame-handler.js';
import { AGENT_MAX_LEN } from './framing.js';
import { describeAddress, type ListenAddress } from './listen-address.js';
import { prepareUnixSocketPath, probeSocket } from './unix-socket.js';

export interface AgentServerOptions {
  readonly handler: FrameHandler;
  readonly log?: Logger;
  /** How long close() lets in-flight requests run before cutting connections (default 5 s). */
  readonly shutdownTimeoutMs?: number;
  /** Largest accepted message body (default AGENT_MAX_LEN). */
  readonly maxFrameLength?: number;
  /**
   * Open connections at most (default 256). At the limit, the connection that has waited longest
   * for the rest of a frame makes room for the new one; with none such, the new one is closed.
   */
  readonly maxConnections?: number;
  /** Request bytes held across all connections at most (default 64 MiB); see ByteBudget. */
  readonly maxBufferedBytes?: number;
  /**
   * Who connected (default: the kernel's answer, SO_PEERCRED / getpeereid); undefined when it
   * cannot be known. Tests stand in for it.
   */
  readonly peerOf?: (socket: Socket) => PeerCredentials | undefined;
  /** The uid peers must have (besides root); default our effective uid. */
  readonly uid?: number;
  /**
   * RLIMIT_NOFILE (default: read from the OS); connections stop FD_RESERVE below it. Asked when
   * the server is made, then as OpenFileLimitWatch says (more connections open, or seconds later).
   */
  readonly fdLimit?: () => number | undefined;
}

export const DEFAULT_MAX_BUFFERED_BYTES = 64 * 1024 * 1024;

/** Accept errors that mean "out of file descriptors": logged, and the server keeps listening. */
const FD_EXHAUSTED = new Set(['EMFILE', 'ENFILE']);

/** Descriptors kept free below RLIMIT_NOFILE for everything but client connections (listener, PC/SC, files, askpass pipes). */
export const FD_RESERVE = 32;

/**
 * The agent's socket server: accepts connections on one listener (unix socket, Windows named
 * pipe or a systemd-passed fd), splits frames and hands them to the FrameHandler.
 */
export class AgentServer {
  readonly #handler: FrameHandler;
  readonly #log: Logger;
  readonly #shutdownTimeoutMs: number;
  readonly #maxLen: number;
  readonly #connections = new Set<AgentConnection>();
  #server: Server | undefined;
  #address: ListenAddress | undefined;
  /** The socket file we created, and its inode, so close() removes it only if it is still ours. */
  #ownedSocket: { path: string; ino: number; removeDirectory: boolean } | undefined;
  #nextId = 1;
  #closing: Promise<void> | undefined;
  readonly #maxConnections: number;
  readonly #budget: ByteBudget;
  readonly #peerOf: (socket: Socket) => PeerCredentials | undefined;
  readonly #uid: number | undefined;
  readonly #fdLimit: OpenFileLimitWatch;
  /** Connections turned away since the last accepted one, by reason (logged once per episode). */
  #refusedRun: { reason: string; count: number } | undefined;

  constructor(options: AgentServerOptions) {
    this.#handler = options.handler;
    this.#log = options.log ?? getLogger('server');
    this.#shutdownTimeoutMs = options.shutdownTimeoutMs ?? 5000;
    this.#maxLen = options.maxFrameLength ?? AGENT_MAX_LEN;
    this.#maxConnections = options.maxConnections ?? DEFAULT_MAX_CONNECTIONS;
    this.#budget = new ByteBudget(options.maxBufferedBytes ?? DEFAULT_MAX_BUFFERED_BYTES);
    this.#peerOf = options.peerOf ?? ((socket) => this.#kernelPeer(socket));
    this.#uid = options.uid ?? process.geteuid?.();
    this.#fdLimit = new OpenFileLimitWatch(options.fdLimit);
  }

  /** Where the server listens (after listen()). */
  get address(): ListenAddress | undefined {
    return this.#address;
  }

  /** Number of open client connections. */
  get connectionCount(): number {
    return this.#connections.size;
  }

  /** Request bytes held across connections now (partial frames and queued requests). */
  get bufferedBytes(): number {
    return this.#budget.used;
  }

  /**
   * Starts listening. For a unix socket: a private directory (0700, ours), the socket 0600, a
   * stale socket replaced, a live agent or a non-socket refused. For a named pipe: refused if an
   * agent already answers. For a systemd fd: listen on it as passed.
   */
  async listen(address: ListenAddress): Promise<void> {
    if (this.#server !== undefined) throw new Error('AgentServer.listen called twice');
    if (address.kind === 'unix') {
      await prepareUnixSocketPath(address.path, this.#log);
    } else if (address.kind === 'pipe') {
      if ((await probeSocket(address.path)) === 'alive') {
        throw new AlreadyRunningError(`an agent is already listening on ${address.path}; refusing to start`);
      }
    }
    // allowHalfOpen: a client may send its requests and shut its write side; it still gets replies.
    const server = createServer({ allowHalfOpen: true }, (socket) => this.#accept(socket));
    server.on('error', (err: NodeJS.ErrnoException) => {
      if (err.code !== undefined && FD_EXHAUSTED.has(err.code)) this.#refused(`out of file descriptors (${err.code})`);
      else this.#log.error({ err }, 'listener error');
    });
    await this.#bind(server, address);
    this.#server = server;
    this.#address = address;
    if (address.kind === 'unix') {
      await chmod(address.path, 0o600);
      this.#ownedSocket = { path: address.path, ino: (await stat(address.path)).ino, removeDirectory: address.removeDirectory === true };
    }
    this.#log.info({ address: describeAddress(address) }, 'listening');
  }

  #bind(server: Server, address: ListenAddress): Promise<void> {
    return new Promise((resolve, reject) => {
      const onError = (err: Error): void => reject(err);
      server.once('error', onError);
      const done = (): void => {
        server.off('error', onError);
        resolve();
      };
      if (address.kind === 'fd') {
        server.listen({ fd: address.fd }, done);
      } else if (address.kind === 'unix') {
        // Bind with a umask that leaves the socket 0600 from its first moment (chmod follows
        // anyway; the 0700 directory already keeps others out).
        const old = process.umask(0o177);
        try {
          server.listen({ path: address.path }, done);
        } finally {
          process.umask(old);
        }
      } else {
        server.listen({ path: address.path }, done);
      }
    });
  }

  #accept(socket: Socket): void {
    if (this.#closing !== undefined) {
      socket.destroy();
      return;
    }
    const fdMax = this.#fdConnectionLimit();
    if (this.#connections.size >= Math.min(this.#maxConnections, fdMax)) {
      const limit =
        fdMax < this.#maxConnections
          ? `${fdMax} connections open, all the file descriptor limit allows (ulimit -n ${this.#fdLimit.known})`
          : `${this.#maxConnections} connections open (the limit)`;
      if (!this.#evictStalled(limit)) {
        socket.destroy();
        this.#refused(limit);
        return;
      }
    }
    let peer: PeerInfo | undefined;
    try {
      const cred = this.#peerOf(socket);
      if (cred !== undefined) {
        const program = programName(cred.pid);
        peer = { ...cred, ...(program === undefined ? {} : { program }) };
        if (this.#uid !== undefined && !peerAllowed(cred.uid, this.#uid)) {
          // ssh-agent.c after_poll/handle_socket_read: "uid mismatch: peer euid %u != uid %u".
          this.#log.warn({ uid: cred.uid, pid: cred.pid, program }, `uid mismatch: peer uid ${cred.uid} != uid ${this.#uid}; connection refused`);
          socket.destroy();
          return;
        }
      }
    } catch (err) {
      this.#log.error({ err: (err as Error).message }, 'could not learn who connected; connection refused');
      socket.destroy();
      return;
    }
    if (this.#refusedRun !== undefined) {
      this.#log.info({ refused: this.#refusedRun.count }, `accepting connections again (${this.#refusedRun.count} turned away: ${this.#refusedRun.reason})`);
      this.#refusedRun = undefined;
    }
    const id = this.#nextId++;
    const conn = new AgentConnection(socket, id, this.#handler, this.#log, this.#maxLen, peer, this.#budget);
    if (peer !== undefined) this.#log.debug({ conn: id, pid: peer.pid, uid: peer.uid, program: peer.program }, 'peer');
    this.#connections.add(conn);
    void conn.closed.then(() => this.#connections.delete(conn));
  }

  /**
   * At the connection limit: closes the idle connection that has waited longest for the rest of
   * a frame (a client that announced a message and stalled), so a flood of such connections
   * cannot lock real clients out. False if every connection is busy or on a frame boundary.
   */
  #evictStalled(limit: string): boolean {
    let victim: AgentConnection | undefined;
    for (const conn of this.#connections) {
      const since = conn.partialFrameSince;
      if (since === undefined || conn.busy) continue;
      if (victim === undefined || since < victim.partialFrameSince!) victim = conn;
    }
    if (victim === undefined) return false;
    this.#connections.delete(victim);
    victim.destroy();
    this.#evictions++;
    if (this.#evictions === 1 || this.#evictions % 1000 === 0) {
      this.#log.warn(
        { conn: victim.context.id, evicted: this.#evictions },
        `${limit}: closed the connection waiting longest for the rest of a message to make room (${this.#evictions} so far)`,
      );
    }
    return true;
  }

  #evictions = 0;

  /**
   * How many connections RLIMIT_NOFILE leaves room for. Asked at every accept; read again (on
   * Linux /proc/self/limits) only as connections grow or after a few seconds, so a limit lowered
   * at run time (prlimit) still counts before it is reached.
   */
  #fdConnectionLimit(): number {
    const limit = this.#fdLimit.current(this.#connections.size);
    return limit === undefined ? Number.POSITIVE_INFINITY : Math.max(1, limit - FD_RESERVE);
  }

  /** Logs the first refusal of a run (fd limit, connection limit); the next accepted connection ends the run. */
  #refused(reason: string): void {
    if (this.#refusedRun?.reason === reason) {
      this.#refusedRun.count++;
      return;
    }
    this.#refusedRun = { reason, count: 1 };
    this.#log.warn({ connections: this.#connections.size }, `turning connections away: ${reason}; still serving the open ones`);
  }

  #peerWarned = false;

  /** SO_PEERCRED / getpeereid for unix sockets; undefined for named pipes or where the OS cannot tell. */
  #kernelPeer(socket: Socket): PeerCredentials | undefined {
    if (this.#address?.kind === 'pipe') return undefined;
    const fd = socketFd(socket);
    if (fd === undefined) return undefined;
    try {
      return peerCredentials(fd);
    } catch (err) {
      if (!(err instanceof NativeUnavailableError)) throw err;
      if (!this.#peerWarned) {
        this.#peerWarned = true;
        this.#log.warn({ err: err.message }, "cannot check connecting processes' uid here; relying on the socket's permissions");
      }
      return undefined;
    }
  }

  /**
   * Graceful stop: stop accepting, let requests in hand finish (bounded by shutdownTimeoutMs),
   * close every connection, and remove the socket file if it is still the one we created.
   */
  close(): Promise<void> {
    this.#closing ??= this.#close();
    return this.#closing;
  }

  async #close(): Promise<void> {
    const server = this.#server;
    if (server === undefined) return;
    const stopped = new Promise<void>((resolve) => server.close(() => resolve()));
    const busy = [...this.#connections].filter((c) => c.busy).length;
    this.#log.info({ connections: this.#connections.size, busy }, 'shutting down');
    for (const conn of this.#connections) conn.shutdown();
    const drained = Promise.all([...this.#connections].map((c) => c.closed));
    let timer: NodeJS.Timeout | undefined;
    const timedOut = new Promise<boolean>((resolve) => {
      timer = setTimeout(() => resolve(true), this.#shutdownTimeoutMs);
    });
    const late = await Promise.race([drained.then(() => false), timedOut]);
    clearTimeout(timer);
    if (late) {
      this.#log.warn({ connections: this.#connections.size }, 'requests still running at shutdown; closing their connections');
      for (const conn of this.#connections) conn.destroy();
      await drained;
    }
    await stopped;
    await this.#removeSocket();
    this.#log.info('stopped');
  }

  async #removeSocket(): Promise<void> {
    const owned = this.#ownedSocket;
    if (owned === undefined) return;
    this.#ownedSocket = undefined;
    try {
      // Another agent may have replaced our (unreachable) socket meanwhile; leave its socket be.
      if ((await stat(owned.path)).ino !== owned.ino) return;
      await unlink(owned.path);
      // The private directory made for this socket (as ssh-agent removes its mkdtemp directory).
      if (owned.removeDirectory) await rmdir(dirname(owned.path));
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code !== 'ENOENT' && code !== 'ENOTEMPTY') this.#log.warn({ err, path: owned.path }, 'could not remove socket');
    }
  }
}
