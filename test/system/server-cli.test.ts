import { existsSync, readFileSync } from 'node:fs';
import { stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, describe, expect, it } from 'vitest';
import { probeSocket } from '../../src/server/unix-socket.js';
import { AgentProcess, MAIN_JS, agentRequest, cleanEnv, cleanupSystem, makeTempDir, runCli, runProgram } from './harness/agent-process.js';
import { SSH_ADD, describeWithTools } from './harness/sshd.js';

/** draft-miller-ssh-agent §3.4: SSH_AGENTC_REQUEST_IDENTITIES (11) → SSH_AGENT_IDENTITIES_ANSWER (12). */
const REQUEST_IDENTITIES = Uint8Array.of(11);
const NO_IDENTITIES = Uint8Array.of(12, 0, 0, 0, 0);

/** Whether `pid` is a live process (a zombie counts as gone). */
function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch {
    return false;
  }
  try {
    const s = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return s.slice(s.lastIndexOf(')') + 2, s.lastIndexOf(')') + 3) !== 'Z';
  } catch {
    return true;
  }
}

async function waitGone(pid: number): Promise<boolean> {
  for (let i = 0; i < 200 && processAlive(pid); i++) await sleep(50);
  return !processAlive(pid);
}

afterAll(async () => {
  await cleanupSystem();
});

describe('the daemon (node dist/cli/main.js)', () => {
  it('listens on -a PATH with the socket 0600 in a 0700 directory, and answers', async () => {
    const dir = await makeTempDir();
    const agent = await AgentProcess.start({ socketPath: join(dir, 'sub', 'agent.sock') });
    expect((await stat(join(dir, 'sub'))).mode & 0o777).toBe(0o700);
    expect((await stat(agent.socketPath)).mode & 0o777).toBe(0o600);
    expect(await agentRequest(agent.socketPath, REQUEST_IDENTITIES)).toEqual(NO_IDENTITIES);
    await agent.stop();
  });

  it('listens on -H unix://PATH', async () => {
    const path = join(await makeTempDir(), 'h.sock');
    const agent = await AgentProcess.start({ socketPath: path, args: ['-H', `unix://${path}`] });
    expect(await agentRequest(path, REQUEST_IDENTITIES)).toEqual(NO_IDENTITIES);
    await agent.stop();
  });

  it('defaults to $XDG_RUNTIME_DIR/openpgp-card-agent/agent.sock', async () => {
    const runtime = await makeTempDir();
    const path = join(runtime, 'openpgp-card-agent', 'agent.sock');
    const agent = await AgentProcess.start({ socketPath: path, args: [], env: { XDG_RUNTIME_DIR: runtime } });
    expect(await agentRequest(path, REQUEST_IDENTITIES)).toEqual(NO_IDENTITIES);
    await agent.stop();
  });

  it('on SIGTERM and SIGINT: exits 0 and removes its socket', async () => {
    for (const signal of ['SIGTERM', 'SIGINT'] as const) {
      const agent = await AgentProcess.start();
      const status = await agent.stop(signal);
      expect(status).toEqual({ code: 0, signal: null });
      expect(existsSync(agent.socketPath)).toBe(false);
      expect(agent.logLines().some((l) => l['msg'] === 'stopping' && l['signal'] === signal)).toBe(true);
    }
  });

  it('refuses to start where an agent answers: exit 3, one line, the first agent untouched', async () => {
    const first = await AgentProcess.start();
    const r = await runCli(['-D', '-a', first.socketPath]);
    expect(r.code).toBe(3);
    expect(r.stderr).toBe(`openpgp-card-agent: an agent is already listening on ${first.socketPath}; refusing to start\n`);
    expect(await agentRequest(first.socketPath, REQUEST_IDENTITIES)).toEqual(NO_IDENTITIES);
    await first.stop();
  });

  it('replaces the stale socket of an agent that was killed', async () => {
    const dead = await AgentProcess.start();
    await dead.stop('SIGKILL');
    expect(await probeSocket(dead.socketPath)).toBe('refused');
    const agent = await AgentProcess.start({ socketPath: dead.socketPath });
    expect(await agentRequest(agent.socketPath, REQUEST_IDENTITIES)).toEqual(NO_IDENTITIES);
    expect(agent.logLines().some((l) => l['msg'] === 'removing stale socket')).toBe(true);
    await agent.stop();
  });

  it('refuses a directory other users can enter (exit 2)', async () => {
    const r = await runCli(['-a', '/tmp/oca-test-open-dir.sock']);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/^openpgp-card-agent: refusing to use \/tmp for the agent socket: other users can reach it/);
  });

  it('starts whatever DEBUG/RUST_LOG other programs left set: what is not ours is ignored, with one warning', async () => {
    const cases: Array<[Record<string, string>, number]> = [
      [{ DEBUG: '*' }, 1],
      [{ DEBUG: 'express:*' }, 1],
      [{ DEBUG: '1' }, 1],
      [{ RUST_LOG: 'info,hyper=warn' }, 0],
      [{ RUST_LOG: 'openpgp_card_ssh_agent=debug' }, 1],
      [{ DEBUG: 'card=shout' }, 1],
    ];
    for (const [env, warnings] of cases) {
      const agent = await AgentProcess.start({ env: { DEBUG: undefined, ...env } });
      expect(await agentRequest(agent.socketPath, REQUEST_IDENTITIES)).toEqual(NO_IDENTITIES);
      expect(await agent.stop()).toEqual({ code: 0, signal: null });
      const warns = agent.logLines().filter((l) => l['level'] === 40 && l['target'] === 'cli');
      expect(warns, JSON.stringify(env)).toHaveLength(warnings);
      expect(agent.logLines().some((l) => l['msg'] === 'agent started'), JSON.stringify(env)).toBe(true);
    }
  });

  it('-k and status start too with DEBUG=* set', async () => {
    const k = await runCli(['-k'], { env: cleanEnv({ DEBUG: '*', SSH_AGENT_PID: 'abc' }) });
    expect(k.stderr).not.toContain('DEBUG directive');
    expect(k.stderr).toContain('not a good PID');
    const dir = await makeTempDir();
    const s = await runCli(['status', '--simulate', '--simulate-state', join(dir, 'none.json')], { env: cleanEnv({ DEBUG: 'express:*' }) });
    expect(s.code).toBe(2);
    expect(s.stderr).toContain('no virtual card at');
  });

  it('status shows what the agent in SSH_AUTH_SOCK serves (a --simulate agent), from the agent itself', async () => {
    const dir = await makeTempDir();
    const agent = await AgentProcess.start({ args: ['-a', join(dir, 'a.sock'), '--simulate', '--simulate-state', join(dir, 'card.json')], socketPath: join(dir, 'a.sock') });
    const r = await runCli(['status'], { env: cleanEnv({ SSH_AUTH_SOCK: agent.socketPath }) });
    expect(r.code).toBe(0);
    expect(r.stdout).toContain(`pid ${agent.pid}, on ${agent.socketPath}`);
    expect(r.stdout).toContain('(Virtual OpenPGP card (--simulate))');
    expect(r.stdout).toContain('PIN:          in memory until the agent stops');
    const direct = await runCli(['status', '--no-agent'], { env: cleanEnv({ SSH_AUTH_SOCK: agent.socketPath }) });
    expect(direct.stdout).toBe('No OpenPGP cards found over PC/SC.\n');
    await agent.stop();
  });

  it('prints SSH_AUTH_SOCK like ssh-agent -D does with -D -s', async () => {
    const path = join(await makeTempDir(), 'd.sock');
    const fg = await AgentProcess.start({ socketPath: path, args: ['-D', '-s', '-a', path] });
    await expect.poll(() => fg.stdout).toBe(`SSH_AUTH_SOCK=${path}; export SSH_AUTH_SOCK;\necho Agent pid ${fg.pid};\n`);
    await fg.stop();
  });

  it('--version, -V, --help and usage errors', async () => {
    const pkg = JSON.parse(readFileSync(join(MAIN_JS, '../../../package.json'), 'utf8')) as { version: string };
    for (const flag of ['--version', '-V']) expect(await runCli([flag])).toMatchObject({ code: 0, stdout: `${pkg.version}\n` });
    const h = await runCli(['--help']);
    expect(h.code).toBe(0);
    expect(h.stdout).toContain('eval "$(openpgp-card-agent -s)"');
    expect(h.stdout).toContain('-H, --host <address>');
    expect(h.stdout).toContain('agent.log');
    const bad = await runCli(['--frobnicate']);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain("unknown option '--frobnicate'");
    const both = await runCli(['-s', '-c']);
    expect(both.code).toBe(2);
    expect(both.stderr).toMatch(/cannot be used with/);
    const typo = await runCli(['doctr']);
    expect(typo.code).toBe(2);
    expect(typo.stderr).toContain("unknown command 'doctr'\n(Did you mean doctor?)");
  });
});

describeWithTools('eval "$(openpgp-card-agent -s)" in a shell', ['/bin/sh', SSH_ADD], () => {
  it('starts a background agent that ssh-add uses, and -k stops it', async () => {
    const dir = await makeTempDir();
    const sock = join(dir, 'agent.sock');
    const script = [
      'set -e',
      `eval "$('${process.execPath}' '${MAIN_JS}' -s -a '${sock}')"`,
      'echo "pid=$SSH_AGENT_PID"',
      'echo "sock=$SSH_AUTH_SOCK"',
      'ssh-add -l || echo "ssh-add exit $?"',
      `eval "$('${process.execPath}' '${MAIN_JS}' -k)"`,
      'echo "after=${SSH_AUTH_SOCK-unset},${SSH_AGENT_PID-unset}"',
    ].join('\n');
    const r = await runProgram('/bin/sh', ['-c', script], { env: cleanEnv({ PATH: process.env['PATH'] }) });
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    const pid = Number(/^pid=(\d+)$/m.exec(r.stdout)?.[1]);
    expect(pid).toBeGreaterThan(1);
    expect(r.stdout.split('\n')).toEqual([
      `Agent pid ${pid}`,
      `pid=${pid}`,
      `sock=${sock}`,
      'The agent has no identities.',
      'ssh-add exit 1',
      `Agent pid ${pid} killed`,
      'after=unset,unset',
      '',
    ]);
    expect(await waitGone(pid)).toBe(true);
    expect(existsSync(sock)).toBe(false);
    // Its log went to a file beside the socket, as text.
    expect(readFileSync(join(dir, 'agent.log'), 'utf8')).toMatch(/^\S+Z INFO {2}\[cli\] agent started address=/m);
  });

  it('-c prints csh syntax; again where the agent answers, it prints the same lines and starts no other', async () => {
    const dir = await makeTempDir();
    const sock = join(dir, 'agent.sock');
    const c = await runCli(['-c', '-a', sock]);
    expect(c.code).toBe(0);
    const m = /^setenv SSH_AUTH_SOCK (.+);\nsetenv SSH_AGENT_PID (\d+);\necho Agent pid (\d+);\n$/.exec(c.stdout);
    expect(m?.[1]).toBe(sock);
    const pid = Number(m?.[2]);
    expect(m?.[3]).toBe(String(pid));
    expect(await agentRequest(sock, REQUEST_IDENTITIES)).toEqual(NO_IDENTITIES);

    // Again where it answers: the same lines, exit 0, no second agent.
    const again = await runCli(['-c', '-a', sock]);
    expect(again).toMatchObject({ code: 0, stdout: c.stdout, stderr: '' });

    const k = await runCli(['-k', '-c'], { env: cleanEnv({ SSH_AGENT_PID: String(pid) }) });
    expect(k).toMatchObject({ code: 0, stdout: `unsetenv SSH_AUTH_SOCK;\nunsetenv SSH_AGENT_PID;\necho Agent pid ${pid} killed;\n` });
    expect(await waitGone(pid)).toBe(true);
    expect(existsSync(sock)).toBe(false);
  });

  it('-s passes on the error of a daemon that fails to start, with its exit code', async () => {
    const dir = await makeTempDir();
    const path = join(dir, 'a.sock');
    // Only the daemon looks closer: a regular file where the socket should be.
    await writeFile(path, 'not a socket');
    const r = await runCli(['-s', '-a', path]);
    expect(r.stdout).toBe('');
    expect(r.stderr).toBe(`openpgp-card-agent: refusing to replace ${path}: it exists and is not a socket\n`);
    expect(r.code).toBe(2);
  });
});
