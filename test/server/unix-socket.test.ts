import { spawn } from 'node:child_process';
import { chmod, chown, mkdir, readFile, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { AlreadyRunningError, ConfigError } from '../../src/errors.js';
import { AgentServer } from '../../src/server/agent-server.js';
import type { FrameHandler } from '../../src/server/frame-handler.js';
import { probeSocket } from '../../src/server/unix-socket.js';
import { RawClient, memoryLogger, privateTempDir } from './helpers.js';

const echo: FrameHandler = { handleFrame: async (b) => b };

let dir: string;
let cleanup: () => Promise<void>;
const servers: AgentServer[] = [];

beforeEach(async () => {
  ({ dir, cleanup } = await privateTempDir());
});

afterEach(async () => {
  for (const s of servers.splice(0)) await s.close();
  await cleanup();
});

async function listen(path: string): Promise<{ server: AgentServer; lines: Array<Record<string, unknown>> }> {
  const { log, lines } = memoryLogger();
  const server = new AgentServer({ handler: echo, log });
  servers.push(server);
  await server.listen({ kind: 'unix', path });
  return { server, lines };
}

/** Leaves a socket file nobody listens on: a child binds it and is killed without cleanup. */
async function staleSocket(path: string): Promise<void> {
  const child = spawn(process.execPath, [
    '-e',
    `require('net').createServer().listen(${JSON.stringify(path)}, () => process.kill(process.pid, 'SIGKILL'))`,
  ]);
  await new Promise((resolve) => child.once('exit', resolve));
  expect((await stat(path)).isSocket()).toBe(true);
}

async function answers(path: string): Promise<boolean> {
  const c = await RawClient.connect(path);
  c.send(Uint8Array.of(42));
  const replies = await c.waitForReplies(1);
  c.close();
  return replies.length === 1 && replies[0]?.[0] === 42;
}

describe('unix socket listener', () => {
  it('creates missing directories 0700 and the socket 0600', async () => {
    const path = join(dir, 'a', 'b', 'agent.sock');
    await listen(path);
    expect((await stat(join(dir, 'a', 'b'))).mode & 0o777).toBe(0o700);
    expect((await stat(join(dir, 'a'))).mode & 0o777).toBe(0o700);
    const st = await stat(path);
    expect(st.isSocket()).toBe(true);
    expect(st.mode & 0o777).toBe(0o600);
    expect(await answers(path)).toBe(true);
  });

  it('refuses to start on a socket where an agent answers, and leaves that agent alone', async () => {
    const path = join(dir, 'agent.sock');
    await listen(path);
    const second = new AgentServer({ handler: echo, log: memoryLogger().log });
    const err = await second.listen({ kind: 'unix', path }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(AlreadyRunningError);
    expect((err as Error).message).toContain('already listening');
    expect(await answers(path)).toBe(true);
  });

  it('replaces a stale socket, with a log line', async () => {
    const path = join(dir, 'agent.sock');
    await staleSocket(path);
    expect(await probeSocket(path)).toBe('refused');
    const { lines } = await listen(path);
    expect(await answers(path)).toBe(true);
    expect(lines.some((l) => l['msg'] === 'removing stale socket')).toBe(true);
  });

  it('refuses a path that exists and is not a socket, and leaves it untouched', async () => {
    const path = join(dir, 'agent.sock');
    await writeFile(path, 'precious');
    const server = new AgentServer({ handler: echo, log: memoryLogger().log });
    await expect(server.listen({ kind: 'unix', path })).rejects.toThrow(ConfigError);
    expect(await readFile(path, 'utf8')).toBe('precious');

    const sub = join(dir, 'subdir');
    await mkdir(sub, { mode: 0o700 });
    await expect(server.listen({ kind: 'unix', path: sub })).rejects.toThrow(/not a socket/);
  });

  it('refuses a directory other users can enter', async () => {
    const open = join(dir, 'open');
    await mkdir(open);
    await chmod(open, 0o755);
    const server = new AgentServer({ handler: echo, log: memoryLogger().log });
    await expect(server.listen({ kind: 'unix', path: join(open, 'agent.sock') })).rejects.toThrow(/other users can reach it \(mode 0755\)/);
    await chmod(open, 0o710);
    await expect(server.listen({ kind: 'unix', path: join(open, 'agent.sock') })).rejects.toThrow(ConfigError);
  });

  it.skipIf(process.getuid?.() !== 0)('refuses a directory another user owns (needs root to chown)', async () => {
    const theirs = join(dir, 'theirs');
    await mkdir(theirs, { mode: 0o700 });
    await chown(theirs, 4242, 4242);
    const server = new AgentServer({ handler: echo, log: memoryLogger().log });
    await expect(server.listen({ kind: 'unix', path: join(theirs, 'agent.sock') })).rejects.toThrow(/owned by uid 4242/);
  });

  it('refuses a socket path longer than sockaddr_un allows', async () => {
    const server = new AgentServer({ handler: echo, log: memoryLogger().log });
    await expect(server.listen({ kind: 'unix', path: join(dir, 'x'.repeat(120)) })).rejects.toThrow(/too long/);
  });

  it('removes its socket on close, and probeSocket then reports it absent', async () => {
    const path = join(dir, 'agent.sock');
    const { server } = await listen(path);
    expect(await probeSocket(path)).toBe('alive');
    await server.close();
    expect(await probeSocket(path)).toBe('absent');
  });
});
