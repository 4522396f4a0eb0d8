import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { EXIT } from '../../src/cli/exit-codes.js';
import { resolveAddress, run, type CliIo } from '../../src/cli/program.js';
import { probeSocket } from '../../src/server/unix-socket.js';

function io(env: NodeJS.ProcessEnv = { DEBUG: 'off' }): CliIo & { out: () => string; err: () => string } {
  let out = '';
  let err = '';
  return {
    env,
    isTty: false,
    stdout: async (s) => void (out += s),
    stderr: async (s) => void (err += s),
    out: () => out,
    err: () => err,
  };
}

const dirs: string[] = [];
afterEach(async () => {
  for (const d of dirs.splice(0)) await rm(d, { recursive: true, force: true });
});

describe('run (the CLI, in-process)', () => {
  it('prints the version and help with exit 0', async () => {
    const v = io();
    expect(await run(['--version'], v)).toBe(0);
    expect(v.out()).toMatch(/^\d+\.\d+\.\d+\n$/);
    const h = io();
    expect(await run(['--help'], h)).toBe(0);
    expect(h.out()).toContain('Usage: openpgp-card-agent [options]');
    expect(h.out()).toContain('eval "$(openpgp-card-agent -s)"');
  });

  it('turns usage errors into exit 2 with commander\'s message', async () => {
    for (const argv of [['--nope'], ['-s', '-c'], ['-k', '-a', '/tmp/x'], ['-H', 'unix:///a', '-a', '/b'], ['extra']]) {
      const r = io();
      expect(await run(argv, r)).toBe(EXIT.USAGE);
      expect(r.err()).toMatch(/^error: /);
    }
  });

  it('reports an invalid DEBUG directive as one line and exit 2', async () => {
    const r = io({ DEBUG: 'card=loud' });
    expect(await run(['-k'], r)).toBe(EXIT.USAGE);
    expect(r.err()).toBe(
      'openpgp-card-agent: invalid DEBUG directive "card=loud": unknown level "loud" (expected LEVEL or TARGET=LEVEL, comma-separated; ' +
        'levels: off, error, warn, info, debug, trace; targets: server, protocol, agent, card, pcsc, pins, notify, simulator, cli)\n',
    );
  });

  it('-k without SSH_AGENT_PID fails like ssh-agent -k', async () => {
    const r = io();
    expect(await run(['-k'], r)).not.toBe(0);
    expect(r.err()).toBe('openpgp-card-agent: SSH_AGENT_PID not set, cannot kill agent\n');
  });

  it('runs the daemon until SIGTERM, then removes the socket and returns 0', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'oca-cli-'));
    dirs.push(dir);
    const path = join(dir, 'agent.sock');
    const r = io();
    const listeners = process.listenerCount('SIGTERM');
    const done = run(['-a', path], r);
    await expect.poll(() => probeSocket(path), { timeout: 10_000 }).toBe('alive');
    process.emit('SIGTERM', 'SIGTERM');
    expect(await done).toBe(0);
    expect(existsSync(path)).toBe(false);
    expect(process.listenerCount('SIGTERM')).toBe(listeners);
  });

  it('fails to start on a bad -H value with exit 2', async () => {
    const r = io();
    expect(await run(['-H', 'tcp://127.0.0.1:1'], r)).toBe(EXIT.USAGE);
    expect(r.err()).toContain('expected unix://PATH or \\\\.\\pipe\\NAME');
  });
});

describe('resolveAddress', () => {
  it('prefers a systemd socket, then -H, then -a, then the default', () => {
    const pid = String(process.pid);
    expect(resolveAddress({ a: '/x/a.sock' }, { LISTEN_PID: pid, LISTEN_FDS: '1', DEBUG: 'off' })).toEqual({ kind: 'fd', fd: 3 });
    expect(resolveAddress({ host: 'unix:///h.sock' }, {})).toEqual({ kind: 'unix', path: '/h.sock' });
    expect(resolveAddress({ a: '/x/a.sock' }, {})).toEqual({ kind: 'unix', path: '/x/a.sock' });
    expect(resolveAddress({}, { XDG_RUNTIME_DIR: '/run/user/7' })).toEqual({ kind: 'unix', path: '/run/user/7/openpgp-card-agent/agent.sock' });
  });
});
