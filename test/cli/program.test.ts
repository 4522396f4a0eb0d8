import { existsSync, readdirSync, writeFileSync } from 'node:fs';
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
    for (const argv of [['--nope'], ['-s', '-c'], ['-k', '-D'], ['-H', 'unix:///a', '-a', '/b'], ['--log-format', 'xml'], ['status', 'extra']]) {
      const r = io();
      expect(await run(argv, r)).toBe(EXIT.USAGE);
      expect(r.err()).toMatch(/^error: /);
    }
  });

  it('answers -V, help and help COMMAND, and lists the commands in --help', async () => {
    const v = io();
    expect(await run(['-V'], v)).toBe(0);
    expect(v.out()).toMatch(/^\d+\.\d+\.\d+\n$/);
    const h = io();
    expect(await run(['help'], h)).toBe(0);
    expect(h.out()).toContain('Usage: openpgp-card-agent [options] [command]');
    for (const c of ['status', 'doctor', 'service', 'help [command]']) expect(h.out()).toMatch(new RegExp(`^  ${c.replace(/[[\]]/g, '\\$&')}`, 'm'));
    const hs = io();
    expect(await run(['help', 'service'], hs)).toBe(0);
    expect(hs.out()).toContain('Usage: openpgp-card-agent service [options] [command]');
    expect(hs.out()).toMatch(/^ {2}install \[options\]/m);
  });

  it('says "unknown command" for a typo, with the command it may have meant', async () => {
    const r = io();
    expect(await run(['stauts'], r)).toBe(EXIT.USAGE);
    expect(r.err()).toBe("error: unknown command 'stauts'\n(Did you mean status?)\nSee 'openpgp-card-agent --help' for the commands.\n");
    const far = io();
    expect(await run(['frobnicate'], far)).toBe(EXIT.USAGE);
    expect(far.err()).toMatch(/^error: unknown command 'frobnicate'\nSee/);
  });

  it('refuses options of --simulate without it, before creating anything', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'oca-cli-'));
    dirs.push(dir);
    const env = { DEBUG: 'off', XDG_STATE_HOME: join(dir, 'state'), XDG_RUNTIME_DIR: join(dir, 'run') };
    for (const [argv, flag] of [
      [['--simulate-algo', 'p256'], '--simulate-algo'],
      [['--simulate-state', join(dir, 'x.json')], '--simulate-state'],
      [['--no-simulate-pin'], '--no-simulate-pin'],
      [['status', '--simulate-algo', 'p256'], '--simulate-algo'],
    ] as const) {
      const r = io(env);
      expect(await run(argv, r)).toBe(EXIT.USAGE);
      expect(r.err()).toBe(`error: option '${flag}' needs --simulate\n`);
    }
    expect(readdirSync(dir)).toEqual([]);
  });

  it('status never creates files: a missing virtual card is an error, not a new card', async () => {
    const r = io();
    expect(await run(['status', '--simulate', '--simulate-state', '/nonexistent/x.json'], r)).toBe(EXIT.USAGE);
    expect(r.err()).toBe('openpgp-card-agent: no virtual card at /nonexistent/x.json: `openpgp-card-agent --simulate` creates it on its first start\n');
    expect(existsSync('/nonexistent')).toBe(false);
  });

  it('a corrupt virtual card state file is a one-line error, for status and for the daemon', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'oca-cli-'));
    dirs.push(dir);
    const state = join(dir, 'card.json');
    writeFileSync(state, '{"version": 1, "dos": ');
    const s = io();
    expect(await run(['status', '--simulate', '--simulate-state', state], s)).toBe(EXIT.USAGE);
    expect(s.err()).toMatch(new RegExp(`^openpgp-card-agent: ${state} is not a virtual card state file \\(.*\\); move it away to start with a new card\n$`));
    const d = io();
    expect(await run(['-D', '-a', join(dir, 'a.sock'), '--simulate', '--simulate-state', state], d)).toBe(EXIT.USAGE);
    expect(d.err().split('\n')).toHaveLength(2);
    expect(d.err()).toContain('is not a virtual card state file');
    expect(existsSync(join(dir, 'a.sock'))).toBe(false);
    writeFileSync(state, '[1, 2]');
    const v = io();
    expect(await run(['status', '--simulate', '--simulate-state', state], v)).toBe(EXIT.USAGE);
    expect(v.err()).toBe(`openpgp-card-agent: ${state}: unknown virtual card state version undefined\n`);
  });

  it('-k without SSH_AGENT_PID and without an agent on the socket fails with one line', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'oca-cli-'));
    dirs.push(dir);
    const r = io({ DEBUG: 'off', XDG_RUNTIME_DIR: dir });
    expect(await run(['-k'], r)).toBe(EXIT.FAILURE);
    expect(r.err()).toBe(`openpgp-card-agent: SSH_AGENT_PID not set, and no agent runs on ${join(dir, 'openpgp-card-agent', 'agent.sock')}\n`);
    expect(existsSync(join(dir, 'openpgp-card-agent'))).toBe(false);
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
