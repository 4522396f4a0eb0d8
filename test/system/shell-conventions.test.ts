import { spawn } from 'node:child_process';
import { closeSync, existsSync, fstatSync, openSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { LOG_FILE_MAX_BYTES } from '../../src/log-file.js';
import { probeSocket } from '../../src/server/unix-socket.js';
import { MAIN_JS, agentRequest, cleanEnv, cleanupSystem, makeTempDir, runCli, runProgram } from './harness/agent-process.js';
import { SSH_ADD, describeWithTools } from './harness/sshd.js';

const REQUEST_IDENTITIES = Uint8Array.of(11);
const AGENT = `'${process.execPath}' '${MAIN_JS}'`;

afterAll(async () => {
  await cleanupSystem();
});

/** Runs a /bin/sh script with PATH (for ssh-add) and `env`. */
function sh(script: string, env: Record<string, string | undefined> = {}): ReturnType<typeof runProgram> {
  return runProgram('/bin/sh', ['-c', script], { env: cleanEnv({ PATH: process.env['PATH'], ...env }), timeoutMs: 60_000 });
}

/** Stops an agent by pid and waits until its socket is gone (the agent removes it on exit). */
async function stopPid(pid: number, sock: string): Promise<void> {
  try {
    process.kill(pid, 'SIGTERM');
  } catch {
    return;
  }
  await expect.poll(() => existsSync(sock), { timeout: 20_000 }).toBe(false);
}

describeWithTools('ssh-agent conventions', ['/bin/sh', SSH_ADD], () => {
  it('eval "$(openpgp-card-agent)" (output captured, no -D) returns: the agent goes to the background', async () => {
    const dir = await makeTempDir();
    const sock = join(dir, 'agent.sock');
    const r = await sh([`eval "$(${AGENT} -a '${sock}')"`, 'echo "pid=$SSH_AGENT_PID sock=$SSH_AUTH_SOCK"', 'ssh-add -l; echo "ssh-add exit $?"'].join('\n'));
    expect(r.code).toBe(0);
    const pid = Number(/^pid=(\d+) /m.exec(r.stdout)?.[1]);
    expect(r.stdout.split('\n')).toEqual([`Agent pid ${pid}`, `pid=${pid} sock=${sock}`, 'The agent has no identities.', 'ssh-add exit 1', '']);
    expect(readFileSync(join(dir, 'agent.pid'), 'utf8')).toBe(`${pid}\n`);
    await stopPid(pid, sock);
  });

  it('eval "$(openpgp-card-agent -s)" in every new shell: the second one gets the first agent\'s lines, exit 0', async () => {
    const runtime = await makeTempDir();
    const env = { XDG_RUNTIME_DIR: runtime };
    const line = `eval "$(${AGENT} -s)"; echo "rc=$? pid=$SSH_AGENT_PID sock=$SSH_AUTH_SOCK"`;
    const first = await sh(line, env);
    const second = await sh(line, env);
    const sock = join(runtime, 'openpgp-card-agent', 'agent.sock');
    const m1 = /rc=0 pid=(\d+) sock=(.+)$/m.exec(first.stdout);
    expect(m1?.[2]).toBe(sock);
    expect(second.stdout).toBe(first.stdout);
    expect(second.stderr).toBe('');
    expect(await agentRequest(sock, REQUEST_IDENTITIES)).toEqual(Uint8Array.of(12, 0, 0, 0, 0));

    // -k without SSH_AGENT_PID finds it on the default socket, by the pid file beside it.
    const k = await runCli(['-k'], { env: cleanEnv(env) });
    expect(k).toMatchObject({ code: 0, stdout: `unset SSH_AUTH_SOCK;\nunset SSH_AGENT_PID;\necho Agent pid ${m1?.[1]} killed;\n` });
    expect(existsSync(sock)).toBe(false);
    expect(existsSync(join(runtime, 'openpgp-card-agent', 'agent.pid'))).toBe(false);
  });

  it('without XDG_RUNTIME_DIR: the same per-user socket under $TMPDIR for every shell (0700, ours), and -k finds it', async () => {
    const tmp = await makeTempDir();
    const env = { XDG_RUNTIME_DIR: undefined, TMPDIR: tmp };
    const line = `eval "$(${AGENT} -s)"; echo "rc=$? pid=$SSH_AGENT_PID sock=$SSH_AUTH_SOCK"`;
    const first = await sh(line, env);
    const second = await sh(line, env);
    const dir = join(tmp, `openpgp-card-agent-${process.getuid!()}`);
    expect(/rc=0 pid=\d+ sock=(.+)$/m.exec(first.stdout)?.[1]).toBe(join(dir, 'agent.sock'));
    expect(second.stdout).toBe(first.stdout);
    expect(statSync(dir).mode & 0o777).toBe(0o700);
    const k = await runCli(['-k'], { env: cleanEnv(env) });
    expect(k.code).toBe(0);
    expect(existsSync(join(dir, 'agent.sock'))).toBe(false);
  });

  it('-k refuses a pid file that names a process which is not the agent', async () => {
    const dir = await makeTempDir();
    const other = spawn('/bin/sleep', ['60'], { stdio: 'ignore' });
    try {
      writeFileSync(join(dir, 'agent.pid'), `${other.pid}\n`);
      const r = await runCli(['-k', '-a', join(dir, 'agent.sock')]);
      expect(r.code).toBe(1);
      expect(r.stderr).toBe(`openpgp-card-agent: ${join(dir, 'agent.pid')} names pid ${other.pid}, which is not openpgp-card-agent; not killing it\n`);
      expect(other.exitCode).toBeNull();
    } finally {
      other.kill('SIGKILL');
    }
  });

  it('the -s log file is appended, as text, and rotated when full', async () => {
    const dir = await makeTempDir();
    const sock = join(dir, 'agent.sock');
    const log = join(dir, 'agent.log');
    writeFileSync(log, 'a line from before\n');
    const one = await sh(`eval "$(${AGENT} -s -a '${sock}')"; echo "pid=$SSH_AGENT_PID"`);
    const pid1 = Number(/pid=(\d+)/.exec(one.stdout)?.[1]);
    await stopPid(pid1, sock);
    const text = readFileSync(log, 'utf8');
    expect(text.startsWith('a line from before\n')).toBe(true);
    expect(text).toMatch(/^\S+Z INFO {2}\[cli\] agent started address=/m);
    expect(text).toMatch(/^\S+Z INFO {2}\[cli\] stopping signal=SIGTERM$/m);

    // A full log becomes agent.log.1 when the next agent starts.
    writeFileSync(log, `${'x'.repeat(99)}\n`.repeat(LOG_FILE_MAX_BYTES / 100 + 1));
    const two = await sh(`eval "$(${AGENT} -s -a '${sock}')"; echo "pid=$SSH_AGENT_PID"`);
    const pid2 = Number(/pid=(\d+)/.exec(two.stdout)?.[1]);
    await stopPid(pid2, sock);
    expect(statSync(`${log}.1`).size).toBeGreaterThan(LOG_FILE_MAX_BYTES);
    expect(readFileSync(log, 'utf8')).toMatch(/^\S+Z INFO {2}\[cli\] agent started/m);
    expect(statSync(log).mode & 0o777).toBe(0o600);
  });
});

describe('logs under a service manager', () => {
  /** Starts the daemon with stderr into `file`, stdout a pipe (as journald's stream would be). */
  async function withStderrFile(args: readonly string[], env: Record<string, string | undefined>, file: string, journal: boolean) {
    const fd = openSync(file, 'a', 0o600);
    const st = fstatSync(fd, { bigint: true });
    const child = spawn(process.execPath, [MAIN_JS, ...args], {
      env: cleanEnv({ DEBUG: undefined, ...env, ...(journal ? { JOURNAL_STREAM: `${st.dev}:${st.ino}` } : {}) }),
      stdio: ['ignore', 'pipe', fd],
    });
    closeSync(fd);
    const exited = new Promise<number | null>((resolve) => child.once('exit', resolve));
    return { child, exited };
  }

  it('journald (JOURNAL_STREAM names stderr): text with <N> priorities; and it stays in the foreground though stdout is a pipe', async () => {
    const dir = await makeTempDir();
    const sock = join(dir, 'agent.sock');
    const file = join(dir, 'journal.txt');
    const { child, exited } = await withStderrFile(['-a', sock], { INVOCATION_ID: '0123456789abcdef', DEBUG: 'card=loud' }, file, true);
    await expect.poll(() => probeSocket(sock), { timeout: 20_000 }).toBe('alive');
    expect(child.exitCode).toBeNull();
    child.kill('SIGTERM');
    expect(await exited).toBe(0);
    const lines = readFileSync(file, 'utf8').trim().split('\n');
    expect(lines[0]).toBe('<4>WARN [cli] ignoring DEBUG directive "card=loud": unknown level "loud" (levels: off, error, warn, info, debug, trace)');
    expect(lines).toContain(`<6>INFO [server] listening address=${sock}`);
    expect(lines).toContain('<6>INFO [cli] stopping signal=SIGTERM');
    expect(lines.every((l) => /^<\d>/.test(l))).toBe(true);
  });

  it('stderr to a file: text with ISO times; --log-format json: JSON', async () => {
    const dir = await makeTempDir();
    for (const [args, json] of [
      [[], false],
      [['--log-format', 'json'], true],
    ] as const) {
      const sock = join(dir, `${String(json)}.sock`);
      const file = join(dir, `${String(json)}.log`);
      const { child, exited } = await withStderrFile(['-D', '-a', sock, ...args], {}, file, false);
      await expect.poll(() => probeSocket(sock), { timeout: 20_000 }).toBe('alive');
      child.kill('SIGTERM');
      expect(await exited).toBe(0);
      const first = readFileSync(file, 'utf8').split('\n')[0] ?? '';
      if (json) expect(JSON.parse(first)).toMatchObject({ level: 30, target: 'server', msg: 'listening' });
      else expect(first).toMatch(/^\d{4}-\d\d-\d\dT[\d:.]+Z INFO {2}\[server\] listening address=/);
    }
  });
});
