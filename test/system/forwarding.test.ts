import { spawn, type ChildProcess } from 'node:child_process';
import { chmod, mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { probeSocket } from '../../src/server/unix-socket.js';
import { AgentProcess, cleanEnv, cleanupSystem, makeTempDir, runProgram, type RunResult } from './harness/agent-process.js';
import { SSH, SSHD, SSH_ADD, SSH_BATCH_OPTIONS, SSH_KEYGEN, Sshd, describeWithTools, makeKeyPair } from './harness/sshd.js';

const SSH_AGENT = '/usr/bin/ssh-agent';

/** Options every ssh here gets: no user config, no host key prompts, only the agent's keys. */
const SSH_OPTS = [...SSH_BATCH_OPTIONS, '-o', 'IdentityFile=/nonexistent/oca-no-key'];

/**
 * `ssh -A` through `hops` (ports of the sshds on 127.0.0.1), running `true` on the last one.
 * The inner ssh commands run in the sshd sessions and reach the agent through the forwarding.
 */
function sshChain(agentSocket: string, ports: readonly number[]): Promise<RunResult> {
  const quote = (s: string): string => `'${s.replace(/'/g, `'\\''`)}'`;
  let command = 'echo reached';
  for (let i = ports.length - 1; i >= 1; i--) {
    const forward = i < ports.length - 1 ? ['-A'] : [];
    command = [SSH, ...SSH_OPTS, ...forward, '-p', String(ports[i]), 'root@127.0.0.1', quote(command)].join(' ');
  }
  const forward = ports.length > 1 ? ['-A'] : [];
  const args = [...SSH_OPTS, '-o', `IdentityAgent=${agentSocket}`, ...forward, '-p', String(ports[0]), 'root@127.0.0.1', command];
  return runProgram(SSH, args, { env: cleanEnv(), timeoutMs: 60_000 });
}

/** A script for SSH_ASKPASS that prints `answer` and exits with `code`. */
async function askpass(dir: string, name: string, answer: string, code = 0): Promise<string> {
  const path = join(dir, name);
  await writeFile(path, `#!/bin/sh\nprintf '%s\\n' '${answer}'\nexit ${code}\n`);
  await chmod(path, 0o700);
  return path;
}

const withAskpass = (script: string): Record<string, string> => ({ SSH_ASKPASS: script, SSH_ASKPASS_REQUIRE: 'force', DISPLAY: ':0' });

/** OpenSSH's own ssh-agent in the foreground, for comparison. */
class OpenSshAgent {
  private constructor(
    readonly child: ChildProcess,
    readonly socketPath: string,
  ) {}

  static async start(dir: string): Promise<OpenSshAgent> {
    const socketPath = join(dir, 'openssh-agent.sock');
    const child = spawn(SSH_AGENT, ['-D', '-a', socketPath], { env: cleanEnv(), stdio: ['ignore', 'ignore', 'ignore'] });
    for (let i = 0; i < 200 && (await probeSocket(socketPath).catch(() => 'absent')) !== 'alive'; i++) await new Promise((r) => setTimeout(r, 25));
    return new OpenSshAgent(child, socketPath);
  }

  async stop(): Promise<void> {
    if (this.child.exitCode !== null) return;
    const exited = new Promise((r) => this.child.once('exit', r));
    this.child.kill('SIGTERM');
    await exited;
  }
}

type Outcome = 'in' | 'refused';

function outcome(r: RunResult): Outcome {
  if (r.code === 0 && r.stdout.includes('reached')) return 'in';
  if (r.code === 255 && r.stderr.includes('Permission denied')) return 'refused';
  throw new Error(`unexpected ssh result: code ${r.code}\nstdout: ${r.stdout}\nstderr: ${r.stderr}`);
}

describeWithTools('ssh-add -h and agent forwarding, against OpenSSH’s own ssh-agent', [SSHD, SSH, SSH_ADD, SSH_KEYGEN, SSH_AGENT], () => {
  let hostA: Sshd;
  let hostB: Sshd;
  let dir: string;
  let knownHosts: string;
  let agent: AgentProcess;
  let cardLine: string;
  let ident: string;
  let pinAskpass: string;

  beforeAll(async () => {
    [hostA, hostB] = await Promise.all([Sshd.start(), Sshd.start()]);
    dir = await makeTempDir();
    const hostLine = async (s: Sshd): Promise<string> => (await readFile(join(s.dir, 'ssh_host_ed25519_key.pub'), 'utf8')).trim().split(' ').slice(0, 2).join(' ');
    // known_hosts names the two servers; the daemon reads it from its HOME to name hosts in logs.
    knownHosts = join(dir, 'home', '.ssh', 'known_hosts');
    await mkdir(join(dir, 'home', '.ssh'), { recursive: true });
    await writeFile(knownHosts, `hosta ${await hostLine(hostA)}\nhostb ${await hostLine(hostB)}\n`);
    pinAskpass = await askpass(dir, 'pin.sh', '123456');
    agent = await AgentProcess.start({
      socketPath: join(dir, 'agent.sock'),
      args: ['--simulate', '--simulate-state', join(dir, 'card.json'), '-a', join(dir, 'agent.sock')],
      env: { HOME: join(dir, 'home'), XDG_CONFIG_HOME: join(dir, 'config') },
      timeoutMs: 60_000,
    });
    const list = await runProgram(SSH_ADD, ['-L'], { env: cleanEnv({ SSH_AUTH_SOCK: agent.socketPath }) });
    cardLine = list.stdout.trim();
    ident = cardLine.split(' ')[2]!;
  }, 120_000);

  afterAll(async () => {
    await Promise.all([hostA?.stop(), hostB?.stop()]);
    await cleanupSystem();
  });

  /** ssh-add -h RULES for the card (ssh-add -s) on our agent, or for a file key on ssh-agent. */
  async function restrict(socket: string, rules: readonly string[], what: string[]): Promise<RunResult> {
    const args = ['-H', knownHosts, ...rules.flatMap((r) => ['-h', r]), ...what];
    return runProgram(SSH_ADD, args, { env: cleanEnv({ SSH_AUTH_SOCK: socket, ...withAskpass(pinAskpass) }) });
  }

  /** Every scenario: [name, ssh-add -h rules, chain of hosts, ...]. */
  const SCENARIOS: ReadonlyArray<{ rules: string[]; chain: ('A' | 'B')[] }> = [
    { rules: ['hosta'], chain: ['A'] },
    { rules: ['hosta'], chain: ['B'] },
    { rules: ['hosta'], chain: ['A', 'B'] },
    { rules: ['hosta', 'hosta>hostb'], chain: ['A', 'B'] },
    { rules: ['hosta', 'hosta>hostb'], chain: ['B', 'A'] },
    { rules: ['hosta', 'hosta>root@hostb'], chain: ['A', 'B'] },
    { rules: ['hosta', 'hosta>git@hostb'], chain: ['A', 'B'] },
    { rules: ['hosta', 'hosta>hostb'], chain: ['A', 'B', 'A'] },
    { rules: ['hosta', 'hosta>hostb', 'hostb>hosta'], chain: ['A', 'B', 'A'] },
  ];

  async function runScenarios(socket: string, add: (rules: string[]) => Promise<RunResult>): Promise<string[]> {
    const results: string[] = [];
    for (const s of SCENARIOS) {
      const added = await add(s.rules);
      expect(added.code, added.stderr).toBe(0);
      const ports = s.chain.map((h) => (h === 'A' ? hostA.port : hostB.port));
      results.push(`-h ${s.rules.join(' -h ')}: ${s.chain.join('>')} ${outcome(await sshChain(socket, ports))}`);
    }
    return results;
  }

  const EXPECTED = [
    '-h hosta: A in',
    '-h hosta: B refused',
    '-h hosta: A>B refused',
    '-h hosta -h hosta>hostb: A>B in',
    '-h hosta -h hosta>hostb: B>A refused',
    '-h hosta -h hosta>root@hostb: A>B in',
    '-h hosta -h hosta>git@hostb: A>B refused',
    '-h hosta -h hosta>hostb: A>B>A refused',
    '-h hosta -h hosta>hostb -h hostb>hosta: A>B>A in',
  ];

  it('OpenSSH ssh-agent with a file key: allowed only where -h says, directly and through one and two hops', async () => {
    const openssh = await OpenSshAgent.start(dir);
    try {
      const key = await makeKeyPair(dir, 'file_key');
      await Promise.all([hostA.authorize(key.publicLine), hostB.authorize(key.publicLine)]);
      const results = await runScenarios(openssh.socketPath, async (rules) => {
        await runProgram(SSH_ADD, ['-D'], { env: cleanEnv({ SSH_AUTH_SOCK: openssh.socketPath }) });
        return restrict(openssh.socketPath, rules, [key.path]);
      });
      expect(results).toEqual(EXPECTED);
    } finally {
      await openssh.stop();
    }
  }, 300_000);

  it('our agent with the card key (ssh-add -h … -s IDENT): the same results', async () => {
    await Promise.all([hostA.authorize(cardLine), hostB.authorize(cardLine)]);
    const results = await runScenarios(agent.socketPath, (rules) => restrict(agent.socketPath, rules, ['-s', ident]));
    expect(results).toEqual(EXPECTED);
    // Hosts are named from known_hosts in the log, not only by fingerprint.
    const refused = agent.logLines().filter((l) => String(l['msg']).startsWith('signature refused') || l['msg'] === 'destination-constrained key hidden');
    expect(refused.length).toBeGreaterThan(0);
    expect(refused.some((l) => String(l['path']).includes('hosta') || String(l['path']).includes('hostb'))).toBe(true);
    expect(agent.status).toBeUndefined();
  }, 300_000);

  it('an unrestricted ssh-add -s lifts the rules again', async () => {
    await Promise.all([hostA.authorize(cardLine), hostB.authorize(cardLine)]);
    const plain = await runProgram(SSH_ADD, ['-s', ident], { env: cleanEnv({ SSH_AUTH_SOCK: agent.socketPath, ...withAskpass(pinAskpass) }) });
    expect(plain.code, plain.stderr).toBe(0);
    expect(outcome(await sshChain(agent.socketPath, [hostB.port]))).toBe('in');
  }, 120_000);
});


describeWithTools('--forwarded deny / confirm over a real ssh -A', [SSHD, SSH, SSH_ADD, SSH_KEYGEN], () => {
  let hostA: Sshd;
  let hostB: Sshd;
  let dir: string;

  beforeAll(async () => {
    [hostA, hostB] = await Promise.all([Sshd.start(), Sshd.start()]);
    dir = await makeTempDir();
    await mkdir(join(dir, 'home', '.ssh'), { recursive: true });
    const hostLine = async (s: Sshd): Promise<string> => (await readFile(join(s.dir, 'ssh_host_ed25519_key.pub'), 'utf8')).trim().split(' ').slice(0, 2).join(' ');
    await writeFile(join(dir, 'home', '.ssh', 'known_hosts'), `build-box ${await hostLine(hostA)}\ngit-server ${await hostLine(hostB)}\n`);
  }, 60_000);

  afterAll(async () => {
    await Promise.all([hostA?.stop(), hostB?.stop()]);
    await cleanupSystem();
  });

  async function startAgent(name: string, args: string[], env: Record<string, string> = {}): Promise<{ agent: AgentProcess; line: string }> {
    const socketPath = join(dir, `${name}.sock`);
    const agent = await AgentProcess.start({
      socketPath,
      args: ['--simulate', '--simulate-state', join(dir, 'card.json'), '-a', socketPath, ...args],
      env: { HOME: join(dir, 'home'), XDG_CONFIG_HOME: join(dir, `config-${name}`), ...env },
      timeoutMs: 60_000,
    });
    const line = (await runProgram(SSH_ADD, ['-L'], { env: cleanEnv({ SSH_AUTH_SOCK: socketPath }) })).stdout.trim();
    await Promise.all([hostA.authorize(line), hostB.authorize(line)]);
    return { agent, line };
  }

  it('deny: direct logins work, forwarded ones are refused and logged with the hosts named', async () => {
    const { agent } = await startAgent('deny', ['--forwarded', 'deny']);
    expect(outcome(await sshChain(agent.socketPath, [hostB.port]))).toBe('in');
    expect(outcome(await sshChain(agent.socketPath, [hostA.port, hostB.port]))).toBe('refused');
    const hidden = agent.logLines().find((l) => l['msg'] === 'key hidden from a forwarded connection (forwarded = deny)');
    expect(hidden?.['path']).toMatch(/^this computer → build-box/);
    await agent.stop();
  }, 120_000);

  it('deny from config.toml for this card, whatever the flag says', async () => {
    const probe = await startAgent('probe', ['--forwarded', 'allow']);
    const ident = probe.line.split(' ')[2]!;
    expect(outcome(await sshChain(probe.agent.socketPath, [hostA.port, hostB.port]))).toBe('in');
    await probe.agent.stop();
    await mkdir(join(dir, 'config-cfg', 'openpgp-card-agent'), { recursive: true });
    await writeFile(join(dir, 'config-cfg', 'openpgp-card-agent', 'config.toml'), `[cards."${ident}"]\nforwarded = "deny"\n`);
    const { agent } = await startAgent('cfg', ['--forwarded', 'allow']);
    expect(outcome(await sshChain(agent.socketPath, [hostA.port, hostB.port]))).toBe('refused');
    await agent.stop();
  }, 120_000);

  it('confirm (the default): SSH_ASKPASS is asked, naming the chain of hosts; yes lets in, no refuses', async () => {
    const answerFile = join(dir, 'answer');
    const prompts = join(dir, 'prompts.log');
    const script = join(dir, 'confirm.sh');
    // Records the question, answers what the test put in `answer`: exit 0 for yes, 1 for no.
    await writeFile(script, `#!/bin/sh\nprintf '%s\\n---\\n' "$1" >> '${prompts}'\n[ "$SSH_ASKPASS_PROMPT" = confirm ] || exit 2\nread a < '${answerFile}'\n[ "$a" = yes ] && exit 0\nexit 1\n`);
    await chmod(script, 0o700);
    const { agent, line } = await startAgent('confirm', [], withAskpass(script));
    const ident = line.split(' ')[2]!;
    await writeFile(answerFile, 'yes\n');
    expect(outcome(await sshChain(agent.socketPath, [hostA.port, hostB.port]))).toBe('in');
    const asked = await readFile(prompts, 'utf8');
    expect(asked).toContain(`Allow card key ${ident} to sign a forwarded request?`);
    expect(asked).toContain('Path: this computer → build-box → git-server (as user "root")');
    expect(asked).toMatch(/Forwarded by: ssh \(pid \d+, uid 0\)/);
    await writeFile(answerFile, 'no\n');
    expect(outcome(await sshChain(agent.socketPath, [hostA.port, hostB.port]))).toBe('refused');
    // A direct login is not a forwarded request: no question.
    const before = (await readFile(prompts, 'utf8')).split('---').length;
    expect(outcome(await sshChain(agent.socketPath, [hostB.port]))).toBe('in');
    expect((await readFile(prompts, 'utf8')).split('---').length).toBe(before);
    await agent.stop();
  }, 120_000);

  it('an unknown constraint from a real ssh-add is refused and named in the log; no PIN reaches the card', async () => {
    const { agent, line } = await startAgent('unknown', ['--forwarded', 'allow']);
    const ident = line.split(' ')[2]!;
    // ssh-add cannot send an arbitrary extension; write the frame ssh-add -s would, plus one.
    const name = Buffer.from('frobnicate@example.com');
    const u32 = (n: number): Buffer => Buffer.from([n >>> 24, (n >>> 16) & 255, (n >>> 8) & 255, n & 255]);
    const str = (b: Buffer): Buffer => Buffer.concat([u32(b.length), b]);
    const wrongPin = Buffer.from('000000');
    const body = Buffer.concat([Buffer.of(26), str(Buffer.from(ident)), str(wrongPin), Buffer.of(255), str(name), str(Buffer.alloc(0))]);
    const { agentRequest } = await import('./harness/agent-process.js');
    expect(await agentRequest(agent.socketPath, new Uint8Array(body))).toEqual(Uint8Array.of(5));
    const refusal = agent.logLines().find((l) => String(l['msg']).includes('frobnicate@example.com'));
    expect(refusal?.['msg']).toBe('ssh-add refused: unsupported constraint extension "frobnicate@example.com"');
    expect(agent.logLines().some((l) => /PIN/.test(String(l['msg'])) && l['level'] !== 30)).toBe(false);
    expect(agent.logLines().some((l) => String(l['msg']).includes('wrong'))).toBe(false);
    await agent.stop();
  }, 120_000);
});
