import { chmod, stat, unlink } from 'node:fs/promises';
import { createServer, type Server, type Socket } from 'node:net';
import { AlreadyRunningError } from '../errors.js';
import { getLogger, type Logger } from '../log.js';
import { AgentConnection } from './connection.js';
import type { FrameHandler } from './frame-handler.js';
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
}

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
  #ownedSocket: { path: string; ino: number } | undefined;
  #nextId = 1;
  #closing: Promise<void> | undefined;

  constructor(options: AgentServerOptions) {
    this.#handler = options.handler;
    this.#log = options.log ?? getLogger('server');
    this.#shutdownTimeoutMs = options.shutdownTimeoutMs ?? 5000;
    this.#maxLen = options.maxFrameLength ?? AGENT_MAX_LEN;
  }

  /** Where the server listens (after listen()). */
  get address(): ListenAddress | undefined {
    return this.#address;
  }

  /** Number of open client connections. */
  get connectionCount(): number {
    return this.#connections.size;
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
    server.on('error', (err) => this.#log.error({ err }, 'listener error'));
    await this.#bind(server, address);
    this.#server = server;
    this.#address = address;
    if (address.kind === 'unix') {
      await chmod(address.path, 0o600);
      this.#ownedSocket = { path: address.path, ino: (await stat(address.path)).ino };
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
    const conn = new AgentConnection(socket, this.#nextId++, this.#handler, this.#log, this.#maxLen);
    this.#connections.add(conn);
    void conn.closed.then(() => this.#connections.delete(conn));
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
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') this.#log.warn({ err, path: owned.path }, 'could not remove socket');
    }
  }
}
