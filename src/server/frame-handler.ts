import type { Logger } from '../log.js';

/** What the server knows about one client connection; the agent may hang state off it. */
export interface ConnectionContext {
  /** Unique per server, increasing. Logged as `conn`. */
  readonly id: number;
  /** A child logger with `conn` bound. */
  readonly log: Logger;
  /** The connecting process, where the OS tells (SO_PEERCRED, getpeereid). */
  readonly peer?: PeerInfo;
}

/** The process at the other end of a connection. */
export interface PeerInfo {
  readonly uid: number;
  readonly gid?: number;
  /** Linux (SO_PEERCRED) and macOS (LOCAL_PEERPID); not on the other BSDs. */
  readonly pid?: number;
  /** Its program name (/proc/PID/comm on Linux), when known. */
  readonly program?: string;
}

/** "ssh (pid 1234, uid 1000)" for prompts and logs. */
export function describePeer(peer: PeerInfo | undefined): string | undefined {
  if (peer === undefined) return undefined;
  const parts = [peer.pid === undefined ? undefined : `pid ${peer.pid}`, `uid ${peer.uid}`].filter((p) => p !== undefined);
  return `${peer.program ?? 'a process'} (${parts.join(', ')})`;
}

/**
 * The server's only view of the agent: one message body in (the bytes after the uint32 length),
 * one reply body out. The server guarantees replies leave each connection in request order; the
 * handler may be called concurrently for different connections. It must not throw: any failure
 * becomes an SSH_AGENT_FAILURE body. It may return `null` to ask the server to close the
 * connection without replying.
 */
export interface FrameHandler {
  handleFrame(body: Uint8Array, conn: ConnectionContext): Promise<Uint8Array | null>;
  /** Called once when a connection ends, for per-connection cleanup. */
  connectionClosed?(conn: ConnectionContext): void;
}
