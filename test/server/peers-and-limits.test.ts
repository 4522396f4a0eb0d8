import { closeSync, openSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { peerAllowed, peerCredentials, programName, socketFd } from '../../src/os/peer-credentials.js';
import { AgentServer, FD_RESERVE, type AgentServerOptions } from '../../src/server/agent-server.js';
import { FD_LIMIT_MAX_AGE_MS, OpenFileLimitWatch, openFileLimit } from '../../src/server/fd-limit.js';
import type { ConnectionContext, FrameHandler } from '../../src/server/frame-handler.js';
import { RawClient, memoryLogger, privateTempDir } from './helpers.js';

/** Answers 0xEE and remembers the contexts it saw. */
class Recorder implements FrameHandler {
  readonly seen: ConnectionContext[] = [];
  async handleFrame(_body: Uint8Array, conn: ConnectionContext): Promise<Uint8Array> {
    this.seen.push(conn);
    return Uint8Array.of(0xee);
  }
}

let dir: string;
let cleanup: () => Promise<void>;
let server: AgentServer | undefined;
const clients: RawClient[] = [];

beforeEach(async () => {
  ({ dir, cleanup } = await privateTempDir());
});

afterEach(async () => {
  for (const c of clients.splice(0)) c.close();
  await server?.close();
  server = undefined;
  await cleanup();
});

async function start(opts: Omit<AgentServerOptions, 'handler' | 'log'> = {}) {
  const handler = new Recorder();
  const { log, lines } = memoryLogger();
  const path = join(dir, 'agent.sock');
  server = new AgentServer({ handler, log, ...opts });
  await server.listen({ kind: 'unix', path });
  const connect = async (): Promise<RawClient> => {
    const c = await RawClient.connect(path);
    clients.push(c);
    return c;
  };
  return { handler, lines, connect };
}

describe('peer credentials (SO_PEERCRED)', () => {
  it.skipIf(process.platform !== 'linux')('tells the pid, uid and program of a connected process (this one)', async () => {
    const { handler, connect } = await start();
    const c = await connect();
    c.send(Uint8Array.of(11));
    await c.waitForReplies(1);
    expect(handler.seen[0]!.peer).toEqual({ uid: process.geteuid!(), gid: process.getegid!(), pid: process.pid, program: programName(process.pid) });
    expect(programName(process.pid)).toMatch(/node|vitest/);
  });

  it('ssh-agent.c rule: our uid and root may talk to the agent, nobody else', () => {
    expect(peerAllowed(1000, 1000)).toBe(true);
    expect(peerAllowed(0, 1000)).toBe(true);
    expect(peerAllowed(1001, 1000)).toBe(false);
    expect(peerAllowed(1000, 0)).toBe(false);
  });

  it('closes a connection from another uid at once and logs "uid mismatch"', async () => {
    const { handler, lines, connect } = await start({ uid: 1000, peerOf: () => ({ uid: 1001, gid: 1001, pid: 77 }) });
    const c = await connect();
    c.send(Uint8Array.of(11));
    await c.ended;
    expect(c.replies).toEqual([]);
    expect(handler.seen).toEqual([]);
    expect(lines.find((l) => String(l['msg']).startsWith('uid mismatch'))).toMatchObject({ uid: 1001, pid: 77, level: 40 });
  });

  it('refuses a connection whose peer cannot be learned (the call failed), as ssh-agent does', async () => {
    const { lines, connect } = await start({
      peerOf: () => {
        throw new Error('getsockopt failed');
      },
    });
    const c = await connect();
    await c.ended;
    expect(lines.some((l) => l['msg'] === 'could not learn who connected; connection refused')).toBe(true);
  });

  it('reads the fd of an accepted unix socket; a non-socket fd fails cleanly', async () => {
    if (process.platform !== 'linux') return;
    const { connect } = await start();
    const c = await connect();
    const fd = socketFd(c.socket);
    expect(typeof fd).toBe('number');
    expect(peerCredentials(fd!).pid).toBe(process.pid);
    const file = openSync('/dev/null', 'r');
    try {
      expect(() => peerCredentials(file)).toThrow(/SO_PEERCRED/);
    } finally {
      closeSync(file);
    }
  });
});

describe('limits', () => {
  it('turns connections beyond the limit away, logs it once, and says when it accepts again', async () => {
    const { lines, connect } = await start({ maxConnections: 2 });
    const a = await connect();
    const b = await connect();
    a.send(Uint8Array.of(11));
    b.send(Uint8Array.of(11));
    await Promise.all([a.waitForReplies(1), b.waitForReplies(1)]);
    const over = [await connect(), await connect()];
    await Promise.all(over.map((c) => c.ended));
    expect(lines.filter((l) => String(l['msg']).startsWith('turning connections away')).length).toBe(1);
    a.close();
    await a.ended;
    while (server!.connectionCount > 1) await new Promise((r) => setImmediate(r));
    const d = await connect();
    d.send(Uint8Array.of(11));
    expect(await d.waitForReplies(1)).toEqual([Uint8Array.of(0xee)]);
    expect(lines.find((l) => String(l['msg']).startsWith('accepting connections again'))).toMatchObject({ refused: 2 });
  });

  it('at the limit, the connection stalled longest mid-frame makes room; clients on a frame boundary are kept', async () => {
    const { lines, connect } = await start({ maxConnections: 3 });
    const idle = await connect();
    idle.send(Uint8Array.of(11));
    await idle.waitForReplies(1);
    // Two clients announce 256 KiB and send nothing more, the older one first.
    const older = await connect();
    older.socket.write(Uint8Array.of(0, 4, 0, 0));
    while (server!.bufferedBytes < 4) await new Promise((r) => setImmediate(r));
    const newer = await connect();
    newer.socket.write(Uint8Array.of(0, 4, 0, 0, 1, 2));
    while (server!.bufferedBytes < 8 + 1024) await new Promise((r) => setImmediate(r));
    // A real client arrives at the limit: the older stalled one is closed, the newcomer served.
    const late = await connect();
    late.send(Uint8Array.of(11));
    expect(await late.waitForReplies(1)).toEqual([Uint8Array.of(0xee)]);
    await older.ended;
    expect(newer.socket.destroyed).toBe(false);
    expect(server!.connectionCount).toBe(3);
    expect(lines.filter((l) => String(l['msg']).includes('closed the connection waiting longest'))).toHaveLength(1);
    // Next the newer stalled one goes; then only clients on a frame boundary are left, and the
    // one after is turned away.
    const late2 = await connect();
    late2.send(Uint8Array.of(11));
    expect(await late2.waitForReplies(1)).toEqual([Uint8Array.of(0xee)]);
    await newer.ended;
    const refused = await connect();
    await refused.ended;
    expect(idle.socket.destroyed).toBe(false);
    idle.send(Uint8Array.of(11));
    expect(await idle.waitForReplies(2)).toHaveLength(2);
    expect(lines.some((l) => String(l['msg']).startsWith('turning connections away: 3 connections open (the limit)'))).toBe(true);
  });

  it('closes the connection that pushes the bytes held across connections over the limit', async () => {
    const { lines, connect } = await start({ maxBufferedBytes: 8 * 1024 });
    const a = await connect();
    const b = await connect();
    // Each announces 64 KiB; a sends 6 KiB of it (held), b another 6 KiB: over the 8 KiB budget.
    a.socket.write(Uint8Array.of(0, 1, 0, 0));
    a.socket.write(new Uint8Array(6 * 1024));
    while (server!.bufferedBytes < 6 * 1024) await new Promise((r) => setImmediate(r));
    b.socket.write(Uint8Array.of(0, 1, 0, 0));
    b.socket.write(new Uint8Array(6 * 1024));
    await b.ended;
    expect(lines.some((l) => String(l['msg']).startsWith('too many request bytes held'))).toBe(true);
    expect(a.socket.destroyed).toBe(false);
    // The budget is given back: a new client is served.
    const c = await connect();
    c.send(Uint8Array.of(11));
    expect(await c.waitForReplies(1)).toEqual([Uint8Array.of(0xee)]);
  });

  it('stays FD_RESERVE below RLIMIT_NOFILE, read again as connections grow', async () => {
    let limit = 1000;
    let reads = 0;
    const { lines, connect } = await start({
      fdLimit: () => {
        reads++;
        return limit;
      },
    });
    const first = await connect();
    first.send(Uint8Array.of(11));
    await first.waitForReplies(1);
    const readsWhenFar = reads;
    limit = FD_RESERVE + 2; // lowered at run time (prlimit): room for two connections
    const more = [await connect(), await connect(), await connect()];
    await more[2]!.ended;
    expect(reads).toBeGreaterThan(readsWhenFar);
    expect(lines.find((l) => String(l['msg']).startsWith('turning connections away'))!['msg']).toBe(
      `turning connections away: 2 connections open, all the file descriptor limit allows (ulimit -n ${FD_RESERVE + 2}); still serving the open ones`,
    );
  });
});

describe('openFileLimit', () => {
  it('reads the soft limit from /proc/self/limits', () => {
    if (process.platform !== 'linux') return;
    const soft = Number(/^Max open files\s+(\d+)/m.exec(readFileSync('/proc/self/limits', 'utf8'))![1]);
    expect(openFileLimit()).toBe(soft);
    expect(openFileLimit('/nonexistent')).toBeUndefined();
  });
});

describe('OpenFileLimitWatch', () => {
  /** A limit that prlimit may change, counting its reads, on a clock the test moves. */
  function watched() {
    const os = { limit: 1024 as number | undefined, reads: 0, now: 100 };
    const watch = new OpenFileLimitWatch(
      () => {
        os.reads++;
        return os.limit;
      },
      () => os.now,
    );
    return { os, watch };
  }

  it('reads once when made; while no more connections are open, not again for a few seconds', () => {
    const { os, watch } = watched();
    expect(os.reads).toBe(1);
    os.limit = 64; // prlimit from outside
    for (let i = 0; i < 5; i++) expect(watch.current(0)).toBe(1024);
    os.now += FD_LIMIT_MAX_AGE_MS - 1;
    expect(watch.current(0)).toBe(1024);
    expect(os.reads).toBe(1);
    os.now += 1;
    expect(watch.current(0)).toBe(64);
    expect(watch.known).toBe(64);
    expect(os.reads).toBe(2);
  });

  it('reads again whenever more connections are open than at the last read', () => {
    const { os, watch } = watched();
    expect(watch.current(3)).toBe(1024);
    os.limit = 64;
    expect(watch.current(3)).toBe(1024);
    expect(watch.current(2)).toBe(1024);
    expect(watch.current(4)).toBe(64);
    expect(os.reads).toBe(3);
  });

  it('keeps the last limit known when a read fails', () => {
    const { os, watch } = watched();
    os.limit = undefined;
    expect(watch.current(1)).toBe(1024);
    os.now += FD_LIMIT_MAX_AGE_MS;
    expect(watch.current(1)).toBe(1024);
    expect(os.reads).toBe(3);
  });
});
