import { readFile, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, it } from 'vitest';
import { REPO_ROOT, cleanEnv, makeTempDir, runProgram } from './agent-process.js';
import { missingTool } from './sshd.js';

export const SANDBOX = join(REPO_ROOT, 'scripts/pcsc-sandbox');
export const PCSCD = '/usr/sbin/pcscd';
/** The vpcd driver's directory (missingTool checks for something it can enter or run). */
export const VPCD_DRIVER = '/usr/lib/pcsc/drivers/serial';
export const IP = '/usr/sbin/ip';
export const UNSHARE = '/usr/bin/unshare';
export const NSENTER = '/usr/bin/nsenter';
/** What scripts/pcsc-sandbox itself needs. */
export const SANDBOX_TOOLS = [PCSCD, VPCD_DRIVER, IP, UNSHARE] as const;

const isRoot = (): boolean => process.getuid?.() === 0;

/**
 * describe() for tests over a PC/SC sandbox: it needs root (network and mount namespaces) and the
 * sandbox's programs plus `tools`. When one is missing the suite fails in CI (CI=true) and is
 * skipped elsewhere, with the reason in its title.
 */
export function describeWithSandbox(title: string, tools: readonly string[], body: () => void): void {
  const missing = isRoot() ? missingTool([...SANDBOX_TOOLS, ...tools]) : undefined;
  const reason = !isRoot() ? 'needs root (scripts/pcsc-sandbox makes network and mount namespaces)' : missing === undefined ? undefined : `${missing} is not installed`;
  if (reason === undefined) {
    describe(title, body);
  } else if (process.env['CI'] === 'true') {
    describe(title, () => {
      it(reason, () => {
        throw new Error(`${reason} (required in CI)`);
      });
    });
  } else {
    describe.skip(`${title} (skipped: ${reason})`, body);
  }
}

export interface SandboxOptions {
  /** The sandbox's directory (default: a fresh temp dir, removed by cleanupSystem()). */
  readonly dir?: string;
  /** A command the script runs under, e.g. nsenter into another mount namespace. */
  readonly prefix?: readonly string[];
}

/**
 * scripts/pcsc-sandbox from tests: a private pcscd (its own mount namespace, socket in the
 * sandbox's directory) and up to two virtual cards, in a quickack network namespace of its own.
 * Clients reach it with `env()`; several sandboxes can run at once.
 */
export class PcscSandbox {
  #socketPath = '';

  private constructor(
    readonly dir: string,
    private readonly prefix: readonly string[],
  ) {}

  static async start(opts: SandboxOptions = {}): Promise<PcscSandbox> {
    const sb = new PcscSandbox(opts.dir ?? (await makeTempDir('oca-pcsc-')), opts.prefix ?? []);
    const out = await sb.run('start');
    sb.#socketPath = out.trim().split('\n').pop()!;
    return sb;
  }

  /** pcscd's client socket: give it to clients as PCSCLITE_CSOCK_NAME. */
  get socketPath(): string {
    return this.#socketPath;
  }

  /** The environment that points a PC/SC client (libpcsclite) at this sandbox's pcscd. */
  env(): { PCSCLITE_CSOCK_NAME: string } {
    return { PCSCLITE_CSOCK_NAME: this.#socketPath };
  }

  /** The network namespace the sandbox created (empty once stopped). */
  async netns(): Promise<string> {
    return (await readFile(join(this.dir, 'netns'), 'utf8').catch(() => '')).trim();
  }

  /** The pid of the sandbox's pcscd, or of the card in `slot`, from the script's pid files. */
  async pid(what: 'pcscd' | 0 | 1): Promise<number> {
    const file = what === 'pcscd' ? 'pcscd.pid' : `card-${what}.pid`;
    return Number((await readFile(join(this.dir, file), 'utf8')).split(' ')[0]);
  }

  async run(...args: string[]): Promise<string> {
    const [cmd, ...rest] = args;
    const argv = [...this.prefix, SANDBOX, cmd!, this.dir, ...rest];
    const r = await runProgram(argv[0]!, argv.slice(1), { env: cleanEnv(), timeoutMs: 60_000 });
    if (r.code !== 0) throw new Error(`pcsc-sandbox ${args.join(' ')} failed: ${r.stderr}`);
    return r.stdout;
  }

  /** Plugs a virtual card into slot 0 or 1 (its state persists in `name`.json in the sandbox dir). */
  async card(slot: 0 | 1, name: string, ...options: string[]): Promise<void> {
    await this.run('card', String(slot), join(this.dir, `${name}.json`), ...options);
  }

  statePath(name: string): string {
    return join(this.dir, `${name}.json`);
  }

  /** How many APDUs the card in `slot` (state `name`) has processed: it writes the count to STATE.apdus on SIGUSR2. */
  async apduCount(slot: 0 | 1, name: string): Promise<number> {
    const file = `${this.statePath(name)}.apdus`;
    await rm(file, { force: true });
    process.kill(await this.pid(slot), 'SIGUSR2');
    for (let i = 0; i < 500; i++) {
      const text = await readFile(file, 'utf8').catch(() => '');
      if (text !== '') return Number(text);
      await new Promise((r) => setTimeout(r, 10));
    }
    throw new Error(`card ${slot} did not write its APDU count`);
  }

  async uncard(slot: 0 | 1): Promise<void> {
    await this.run('uncard', String(slot));
  }

  async restartPcscd(): Promise<void> {
    await this.run('restart-pcscd');
  }

  async killPcscd(): Promise<void> {
    await this.run('kill-pcscd');
  }

  async startPcscd(): Promise<void> {
    await this.run('start-pcscd');
  }

  /** Stops everything the sandbox started (idempotent); call before cleanupSystem() removes its dir. */
  async stop(): Promise<void> {
    await this.run('stop');
  }
}
