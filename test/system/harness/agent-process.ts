import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { FrameSplitter, encodeFrame } from '../../../src/server/framing.js';
import { probeSocket } from '../../../src/server/unix-socket.js';

export const REPO_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../../..');
/** The built CLI entry. System tests run the daemon as users do: `node dist/cli/main.js`. */
export const MAIN_JS = join(REPO_ROOT, 'dist/cli/main.js');

/** Throws unless the CLI is built (`npm run build`, which `npm test` runs first). */
export function requireBuild(): void {
  if (!existsSync(MAIN_JS)) throw new Error(`${MAIN_JS} not found: run \`npm run build\` before the system tests`);
}

/** The environment children get: ours without agent variables that would leak in from the host. */
export function cleanEnv(extra: Record<string, string | undefined> = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env };
  for (const k of ['SSH_AUTH_SOCK', 'SSH_AGENT_PID', 'LISTEN_PID', 'LISTEN_FDS', 'LISTEN_FDNAMES', 'DEBUG', 'RUST_LOG']) delete env[k];
  // Children see no pcscd unless a test gives them a sandbox's (`cleanEnv(sandbox.env())`), so
  // cards plugged into this machine or another test's sandbox cannot change what they list, and
  // no test talks to the machine's pcscd.
  env['PCSCLITE_CSOCK_NAME'] = '/nonexistent/oca-no-pcscd.comm';
  for (const [k, v] of Object.entries(extra)) {
    if (v === undefined) delete env[k];
    else env[k] = v;
  }
  return env;
}

const tempDirs: string[] = [];

/** A private (0700) temp dir, removed by cleanupSystem(). */
export async function makeTempDir(prefix = 'oca-sys-'): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), prefix));
  tempDirs.push(dir);
  return dir;
}

export interface ExitStatus {
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
}

export interface AgentStartOptions {
  /** Defaults to agent.sock in a fresh private temp dir. */
  readonly socketPath?: string;
  /** Arguments instead of the default `-a SOCKET` (-D is added unless present). */
  readonly args?: readonly string[];
  /** Extra environment (DEBUG defaults to debug, so stderr explains failures). */
  readonly env?: Record<string, string | undefined>;
  /** Wait until the socket answers (default true). */
  readonly waitForSocket?: boolean;
  readonly timeoutMs?: number;
}

const running = new Set<AgentProcess>();

/** The daemon as a child process: `node dist/cli/main.js -D -a SOCKET`. */
export class AgentProcess {
  readonly child: ChildProcess;
  readonly socketPath: string;
  readonly exited: Promise<ExitStatus>;
  #stderr = '';
  #stdout = '';
  #status: ExitStatus | undefined;

  private constructor(child: ChildProcess, socketPath: string) {
    this.child = child;
    this.socketPath = socketPath;
    child.stderr?.setEncoding('utf8').on('data', (s: string) => (this.#stderr += s));
    child.stdout?.setEncoding('utf8').on('data', (s: string) => (this.#stdout += s));
    this.exited = new Promise((resolve) => {
      child.once('exit', (code, signal) => {
        this.#status = { code, signal };
        running.delete(this);
        resolve(this.#status);
      });
    });
  }

  static async start(opts: AgentStartOptions = {}): Promise<AgentProcess> {
    requireBuild();
    const socketPath = opts.socketPath ?? join(await makeTempDir(), 'agent.sock');
    // -D: our stdout is a pipe, and without -D a captured agent goes to the background.
    const given = opts.args ?? ['-a', socketPath];
    const args = given.includes('-D') ? given : ['-D', ...given];
    const child = spawn(process.execPath, [MAIN_JS, ...args], {
      env: cleanEnv({ DEBUG: 'debug', ...opts.env }),
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const agent = new AgentProcess(child, socketPath);
    running.add(agent);
    if (opts.waitForSocket !== false) await agent.waitForSocket(opts.timeoutMs);
    return agent;
  }

  get pid(): number {
    return this.child.pid ?? -1;
  }

  get stderr(): string {
    return this.#stderr;
  }

  get stdout(): string {
    return this.#stdout;
  }

  /** The exit status, once the process has exited. */
  get status(): ExitStatus | undefined {
    return this.#status;
  }

  /** Log lines (JSON, since stderr is not a TTY) parsed; other lines are skipped. */
  logLines(): Array<Record<string, unknown>> {
    return this.#stderr
      .split('\n')
      .filter((l) => l.startsWith('{'))
      .map((l) => JSON.parse(l) as Record<string, unknown>);
  }

  async waitForSocket(timeoutMs = 15_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (this.#status === undefined) {
      if ((await probeSocket(this.socketPath, 1000)) === 'alive') return;
      if (Date.now() > deadline) throw new Error(`agent did not listen on ${this.socketPath} in time; stderr:\n${this.#stderr}`);
      await sleep(25);
    }
    throw new Error(`agent exited (${JSON.stringify(this.#status)}) before listening; stderr:\n${this.#stderr}`);
  }

  /** Sends `signal` (SIGTERM by default) and waits; SIGKILL if it is still running after the bound. */
  async stop(signal: NodeJS.Signals = 'SIGTERM', timeoutMs = 10_000): Promise<ExitStatus> {
    if (this.#status !== undefined) return this.#status;
    this.child.kill(signal);
    const timer = setTimeout(() => this.child.kill('SIGKILL'), timeoutMs);
    const status = await this.exited;
    clearTimeout(timer);
    return status;
  }
}

/** Stops every daemon still running and removes temp dirs; call in afterAll. */
export async function cleanupSystem(): Promise<void> {
  await Promise.all([...running].map((a) => a.stop('SIGKILL')));
  await Promise.all(tempDirs.splice(0).map((d) => rm(d, { recursive: true, force: true })));
}

export interface RunResult {
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
  readonly stdout: string;
  readonly stderr: string;
}

/** Runs a program to completion (killed after timeoutMs). */
export function runProgram(
  file: string,
  args: readonly string[],
  opts: { env?: NodeJS.ProcessEnv; timeoutMs?: number; input?: string } = {},
): Promise<RunResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(file, args, { env: opts.env ?? cleanEnv(), stdio: [opts.input === undefined ? 'ignore' : 'pipe', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout?.setEncoding('utf8').on('data', (s: string) => (stdout += s));
    child.stderr?.setEncoding('utf8').on('data', (s: string) => (stderr += s));
    const timer = setTimeout(() => child.kill('SIGKILL'), opts.timeoutMs ?? 30_000);
    child.once('error', reject);
    child.once('close', (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, stdout, stderr });
    });
    if (child.stdin !== null) {
      child.stdin.on('error', () => undefined);
      child.stdin.end(opts.input);
    }
  });
}

/** Runs the built CLI (`node dist/cli/main.js ARGS`) to completion. */
export function runCli(args: readonly string[], opts: { env?: NodeJS.ProcessEnv; timeoutMs?: number } = {}): Promise<RunResult> {
  requireBuild();
  return runProgram(process.execPath, [MAIN_JS, ...args], opts);
}

/** One request on a fresh connection: the reply body, or null if the agent closed instead. */
export function agentRequest(socketPath: string, body: Uint8Array, timeoutMs = 10_000): Promise<Uint8Array | null> {
  return new Promise((resolve, reject) => {
    const socket = connect({ path: socketPath });
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new Error('agent did not answer in time'));
    }, timeoutMs);
    const splitter = new FrameSplitter((reply) => {
      clearTimeout(timer);
      socket.destroy();
      resolve(reply);
    });
    socket.on('data', (chunk: Buffer) => splitter.push(chunk));
    socket.once('error', (err) => {
      clearTimeout(timer);
      reject(err);
    });
    socket.once('close', () => {
      clearTimeout(timer);
      resolve(null);
    });
    socket.write(encodeFrame(body));
  });
}
