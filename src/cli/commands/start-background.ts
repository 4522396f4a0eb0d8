import { spawn } from 'node:child_process';
import { closeSync, openSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, dirname, join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { AgentError, AlreadyRunningError } from '../../errors.js';
import { getLogger } from '../../log.js';
import type { ListenAddress } from '../../server/listen-address.js';
import { ensurePrivateDirectory, probeSocket } from '../../server/unix-socket.js';
import { startedOutput, type ShellSyntax } from '../shell-output.js';

export interface StartBackgroundOptions {
  readonly address: Extract<ListenAddress, { kind: 'unix' | 'pipe' }>;
  readonly shell: ShellSyntax;
  readonly env: NodeJS.ProcessEnv;
  readonly stdout: (text: string) => Promise<void>;
  readonly stderr: (text: string) => Promise<void>;
  /** Extra daemon options to pass to the background process (e.g. a future --simulate). */
  readonly daemonArgs?: readonly string[];
  /** How long to wait for the socket to answer (default 15 s). */
  readonly readyTimeoutMs?: number;
}

/** The daemon's log file in the background: next to its socket (a private directory). */
export function backgroundLogPath(address: StartBackgroundOptions['address']): string {
  if (address.kind === 'pipe') return join(tmpdir(), 'openpgp-card-agent.log');
  return join(dirname(address.path), `${basename(address.path).replace(/\.sock$/, '')}.log`);
}

const MAIN_SCRIPT = fileURLToPath(new URL('../main.js', import.meta.url));

/**
 * `-s`/`-c`: start the daemon detached in the background, wait until its socket answers, then
 * print the shell commands that point SSH_AUTH_SOCK and SSH_AGENT_PID at it, as ssh-agent does,
 * so that `eval "$(openpgp-card-agent -s)"` works. The daemon's stderr (its log) goes to a file
 * beside the socket; if it fails to start, its error lines are passed on here.
 */
export async function startBackground(opts: StartBackgroundOptions): Promise<number> {
  const log = getLogger('cli');
  const { address } = opts;
  // Checked here, not only in the daemon: while it starts we wait for this socket to answer,
  // and an agent already answering there must not be taken for ours.
  if (address.kind === 'unix') await ensurePrivateDirectory(dirname(address.path));
  if ((await probeSocket(address.path)) === 'alive') {
    throw new AlreadyRunningError(`an agent is already listening on ${address.path}; refusing to start`);
  }
  const logPath = backgroundLogPath(address);
  const logFd = openSync(logPath, 'w', 0o600);
  const addressArgs = address.kind === 'unix' ? ['-a', address.path] : ['-H', address.path];
  const child = spawn(process.execPath, [...process.execArgv, MAIN_SCRIPT, '-D', ...addressArgs, ...(opts.daemonArgs ?? [])], {
    detached: true,
    stdio: ['ignore', 'ignore', logFd],
    cwd: '/',
    env: opts.env,
  });
  closeSync(logFd);
  const pid = child.pid;
  if (pid === undefined) {
    const spawnErr = await new Promise<Error>((resolve) => child.once('error', resolve));
    throw new AgentError(`could not start the agent: ${spawnErr.message}`);
  }
  log.debug({ pid, logPath }, 'started background agent');

  let exited: number | null | undefined;
  child.once('exit', (code, signal) => {
    exited = code ?? (signal === null ? 1 : 128);
  });
  const deadline = Date.now() + (opts.readyTimeoutMs ?? 15_000);
  while (exited === undefined) {
    if ((await probeSocket(address.path, 1000)) === 'alive') break;
    if (Date.now() > deadline) {
      child.kill('SIGTERM');
      throw new AgentError(`the agent did not start listening on ${address.path} in time; see ${logPath}`);
    }
    await sleep(50);
  }
  if (exited !== undefined) {
    // The daemon printed its own one-line error before its JSON log lines; pass those lines on.
    const text = readFileSync(logPath, 'utf8');
    const human = text.split('\n').filter((l) => l !== '' && !l.startsWith('{'));
    await opts.stderr(human.length > 0 ? `${human.join('\n')}\n` : `openpgp-card-agent: the agent exited (code ${exited}); see ${logPath}\n`);
    return exited === 0 || exited === null ? 1 : exited;
  }
  child.unref();
  await opts.stdout(startedOutput(opts.shell, address.path, pid));
  return 0;
}
