import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { AgentServer } from '../../src/server/agent-server.js';
import type { ConnectionContext, FrameHandler } from '../../src/server/frame-handler.js';
import { AGENT_MAX_LEN } from '../../src/server/framing.js';
import { RawClient, memoryLogger, privateTempDir } from './helpers.js';

/** Echoes the body back with a prefix byte; waits `body[0]` ms (so later requests can finish first). */
class EchoHandler implements FrameHandler {
  readonly active = new Map<number, number>();
  maxPerConnection = 0;
  readonly closed: ConnectionContext[] = [];

  async handleFrame(body: Uint8Array, conn: ConnectionContext): Promise<Uint8Array | null> {
    const now = (this.active.get(conn.id) ?? 0) + 1;
    this.active.set(conn.id, now);
    this.maxPerConnection = Math.max(this.maxPerConnection, now);
    await new Promise((r) => setTimeout(r, body[0] ?? 0));
    this.active.set(conn.id, now - 1);
    return Uint8Array.of(0xee, ...body);
  }

  connectionClosed(conn: ConnectionContext): void {
    this.closed.push(conn);
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

async function start(handler: FrameHandler, opts: { shutdownTimeoutMs?: number } = {}) {
  const { log, lines } = memoryLogger();
  const path = join(dir, 'agent.sock');
  server = new AgentServer({ handler, log, ...opts });
  await server.listen({ kind: 'unix', path });
  const connect = async (): Promise<RawClient> => {
    const c = await RawClient.connect(path);
    clients.push(c);
    return c;
  };
  return { path, lines, connect, server };
}

describe('AgentServer', () => {
  it('answers pipelined requests in request order, one at a time per connection', async () => {
    const handler = new EchoHandler();
    const { connect } = await start(handler);
    const c = await connect();
    // Decreasing delays: a server that ran them concurrently would answer in reverse.
    const bodies = Array.from({ length: 20 }, (_, i) => Uint8Array.of(20 - i, i));
    c.send(...bodies);
    const replies = await c.waitForReplies(bodies.length);
    expect(replies.map((r) => r[2])).toEqual(bodies.map((_, i) => i));
    expect(replies[0]).toEqual(Uint8Array.of(0xee, 20, 0));
    expect(handler.maxPerConnection).toBe(1);
  });

  it('serves many connections at once', async () => {
    // Every connection's first request waits until all connections have one in hand: a server
    // that handled connections one after another would never get there.
    const n = 8;
    let waiting = 0;
    let release!: () => void;
    const all = new Promise<void>((r) => (release = r));
    const handler: FrameHandler = {
      async handleFrame(body) {
        if (body[0] === 1) {
          if (++waiting === n) release();
          await all;
        }
        return Uint8Array.of(...body);
      },
    };
    const { connect } = await start(handler);
    const cs = await Promise.all(Array.from({ length: n }, () => connect()));
    cs.forEach((c, i) => c.send(Uint8Array.of(1, i), Uint8Array.of(2, i)));
    const replies = await Promise.all(cs.map((c) => c.waitForReplies(2)));
    replies.forEach((r, i) => expect(r).toEqual([Uint8Array.of(1, i), Uint8Array.of(2, i)]));
  });

  it('gives each connection its own context and reports its end once', async () => {
    const handler = new EchoHandler();
    const ids: number[] = [];
    const wrapped: FrameHandler = {
      handleFrame: (b, conn) => {
        ids.push(conn.id);
        return handler.handleFrame(b, conn);
      },
      connectionClosed: (conn) => handler.connectionClosed(conn),
    };
    const { connect } = await start(wrapped);
    const a = await connect();
    const b = await connect();
    a.send(Uint8Array.of(0));
    b.send(Uint8Array.of(0));
    await a.waitForReplies(1);
    await b.waitForReplies(1);
    expect(new Set(ids).size).toBe(2);
    a.close();
    b.close();
    await a.ended;
    await b.ended;
    await expect.poll(() => handler.closed.length).toBe(2);
    expect(handler.closed.map((c) => c.id).sort()).toEqual([...new Set(ids)].sort());
  });

  it('answers the frames before an oversize length prefix, then closes the connection with a log line', async () => {
    const { connect, lines } = await start(new EchoHandler());
    const c = await connect();
    const header = Buffer.alloc(4);
    header.writeUInt32BE(AGENT_MAX_LEN + 1);
    c.send(Uint8Array.of(0, 7));
    c.socket.write(header);
    await c.ended;
    expect(c.replies).toEqual([Uint8Array.of(0xee, 0, 7)]);
    expect(lines.some((l) => l['level'] === 40 && String(l['msg']).includes('oversize frame'))).toBe(true);
  });

  it('keeps serving other connections after one is closed for an oversize frame', async () => {
    const { connect } = await start(new EchoHandler());
    const bad = await connect();
    const good = await connect();
    bad.socket.write(Uint8Array.of(0xff, 0xff, 0xff, 0xff));
    await bad.ended;
    good.send(Uint8Array.of(0, 1));
    expect(await good.waitForReplies(1)).toEqual([Uint8Array.of(0xee, 0, 1)]);
  });

  it('still answers every request when the client shuts its write side after pipelining', async () => {
    const { connect } = await start(new EchoHandler());
    const c = await connect();
    c.send(Uint8Array.of(5, 1), Uint8Array.of(0, 2), Uint8Array.of(3, 3));
    c.socket.end();
    await c.ended;
    expect(c.replies.map((r) => r[2])).toEqual([1, 2, 3]);
  });

  it('closes without replying when the handler returns null', async () => {
    const handler: FrameHandler = { handleFrame: async (b) => (b[0] === 0 ? null : b) };
    const { connect } = await start(handler);
    const c = await connect();
    c.send(Uint8Array.of(1), Uint8Array.of(0), Uint8Array.of(2));
    await c.ended;
    expect(c.replies).toEqual([Uint8Array.of(1)]);
  });

  it('replies SSH_AGENT_FAILURE when the handler throws, and keeps the connection', async () => {
    const handler: FrameHandler = {
      handleFrame: async (b) => {
        if (b[0] === 0) throw new Error('boom');
        return b;
      },
    };
    const { connect, lines } = await start(handler);
    const c = await connect();
    c.send(Uint8Array.of(0), Uint8Array.of(9));
    expect(await c.waitForReplies(2)).toEqual([Uint8Array.of(5), Uint8Array.of(9)]);
    expect(lines.some((l) => l['level'] === 50)).toBe(true);
  });

  it('survives clients that hang up before their replies are written', async () => {
    const { connect, lines } = await start(new EchoHandler());
    for (let i = 0; i < 5; i++) {
      const c = await connect();
      c.send(Uint8Array.of(30, i));
      c.socket.destroy();
    }
    const c = await connect();
    c.send(Uint8Array.of(0, 42));
    expect(await c.waitForReplies(1)).toEqual([Uint8Array.of(0xee, 0, 42)]);
    expect(lines.filter((l) => (l['level'] as number) >= 40)).toEqual([]);
  });

  it('on close: finishes the request in hand, drops queued ones, refuses new clients and removes the socket', async () => {
    let inHand!: () => void;
    const started = new Promise<void>((r) => (inHand = r));
    let finish!: () => void;
    const gate = new Promise<void>((r) => (finish = r));
    const handler: FrameHandler = {
      async handleFrame(b) {
        inHand();
        await gate;
        return b;
      },
    };
    const { connect, path, server: s } = await start(handler);
    const c = await connect();
    c.send(Uint8Array.of(1), Uint8Array.of(2));
    await started;
    const closing = s.close();
    await expect(RawClient.connect(path)).rejects.toThrow();
    finish();
    await closing;
    await c.ended;
    expect(c.replies).toEqual([Uint8Array.of(1)]);
    expect(existsSync(path)).toBe(false);
  });

  it('on close: cuts connections whose request outlives the shutdown bound', async () => {
    let inHand!: () => void;
    const started = new Promise<void>((r) => (inHand = r));
    const handler: FrameHandler = {
      handleFrame: () => {
        inHand();
        return new Promise(() => undefined);
      },
    };
    const { connect, path, server: s, lines } = await start(handler, { shutdownTimeoutMs: 50 });
    const c = await connect();
    c.send(Uint8Array.of(1));
    await started;
    await s.close();
    await c.ended;
    expect(c.replies).toEqual([]);
    expect(existsSync(path)).toBe(false);
    expect(lines.some((l) => String(l['msg']).includes('still running at shutdown'))).toBe(true);
  });
});
