import { spawn } from 'node:child_process';
import { closeSync, fstatSync, openSync, readFileSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import type { Readable } from 'node:stream';
import { fileURLToPath } from 'node:url';
import { AgentError } from '../../errors.js';
import { getLogger, type LogFormat } from '../../log.js';
import { LOG_FILE_MAX_BYTES, RotatingFile } from '../../log-file.js';
import type { ListenAddress } from '../../server/listen-address.js';
import { ensurePrivateDirectory, probeSocket } from '../../server/unix-socket.js';
import { agentPid, besideSocket } from '../pid-file.js';
import { existingAgentOutput, startedOutput, type ShellSyntax } from '../shell-output.js';

export interface StartBackgroundOptions {
  readonly address: Extract<ListenAddress, { kind: 'unix' | 'pipe' }>;
  readonly shell: ShellSyntax;
  readonly env: NodeJS.ProcessEnv;
  readonly stdout: (text: string) => Promise<void>;
  readonly stderr: (text: string) => Promise<void>;
  /** Extra daemon options to pass to the background process (--simulate ...). */
  readonly daemonArgs?: readonly string[];
  readonly logFormat?: LogFormat | undefined;
  /** How long to wait for the agent to say it is ready (default 30 s). */
  readonly readyTimeoutMs?: number;
}

/**
 * The daemon's log file in the background: beside its socket (a private directory), e.g.
 * `$XDG_RUNTIME_DIR/openpgp-card-agent/agent.log`; appended, and rotated at 1 MiB (3 old files).
 */
export function backgroundLogPath(address: StartBackgroundOptions['address']): string {
  if (address.kind === 'pipe') return join(tmpdir(), 'openpgp-card-agent.log');
  return besideSocket(address.path, 'log');
}

const MAIN_SCRIPT = fileURLToPath(new URL('../main.js', import.meta.url));

/** The daemon's fd on which it reports readiness to us (see --ready-fd). */
const READY_FD = 3;

/** What we learn from the child: ready (listening, cards loaded), or exited first. */
type Outcome = { kind: 'ready' } | { kind: 'exited'; code: number } | { kind: 'timeout' };

/**
 * `-s`/`-c` (and a plain run whose output is captured): start the daemon detached in the
 * background and print the shell commands that point SSH_AUTH_SOCK and SSH_AGENT_PID at it, as
 * ssh-agent does, so that `eval "$(openpgp-card-agent -s)"` works. If an agent already answers on
 * the socket, its lines are printed instead (exit 0), so the line is safe in every new shell.
 * The daemon logs to a file beside the socket; if it fails to start, its error line is passed on.
 */
export async function startBackground(opts: StartBackgroundOptions): Promise<number> {
  const log = getLogger('cli');
  const { address } = opts;
  if (address.kind === 'unix') await ensurePrivateDirectory(dirname(address.path));
  if ((await probeSocket(address.path)) === 'alive') {
    const pid = address.kind === 'unix' ? agentPid(address.path) : undefined;
    log.debug({ address: address.path, pid }, 'an agent already answers; printing its lines');
    await opts.stdout(existingAgentOutput(opts.shell, address.path, pid));
    return 0;
  }
  const logPath = backgroundLogPath(address);
  // The daemon rotates its own log (--log-file); its stderr (a crash before logging is set up)
  // is appended to the same file. A file that is full already is rotated now.
  let size = 0;
  try {
    size = statSync(logPath).size;
  } catch {
    // No log yet.
  }
  if (size >= LOG_FILE_MAX_BYTES) {
    const f = new RotatingFile(logPath);
    f.rotate();
    f.close();
  }
  const logFd = openSync(logPath, 'a', 0o600);
  const startOffset = fstatSync(logFd).size;
  const addressArgs = address.kind === 'unix' ? ['-a', address.path] : ['-H', address.path];
  const args = ['-D', ...addressArgs, '--log-file', logPath, '--ready-fd', String(READY_FD)];
  if (opts.logFormat !== undefined) args.push('--log-format', opts.logFormat);
  const child = spawn(process.execPath, [...process.execArgv, MAIN_SCRIPT, ...args, ...(opts.daemonArgs ?? [])], {
    detached: true,
    stdio: ['ignore', 'ignore', logFd, 'pipe'],
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

  const ready = child.stdio[READY_FD] as Readable;
  const outcome = await new Promise<Outcome>((resolve) => {
    const timer = setTimeout(() => resolve({ kind: 'timeout' }), opts.readyTimeoutMs ?? 30_000);
    const done = (o: Outcome): void => {
      clearTimeout(timer);
      resolve(o);
    };
    ready.setEncoding('utf8');
    ready.on('data', (s: string) => {
      if (s.includes('READY')) done({ kind: 'ready' });
    });
    ready.on('error', () => undefined);
    child.once('exit', (code, signal) => done({ kind: 'exited', code: code ?? (signal === null ? 1 : 128) }));
  });
  ready.destroy();
  if (outcome.kind === 'timeout') {
    child.kill('SIGTERM');
    throw new AgentError(`the agent did not start listening on ${address.path} in time; see ${logPath}`);
  }
  if (outcome.kind === 'exited') {
    // The daemon printed its one-line error to stderr, that is the log file: pass it on.
    const text = readFileSync(logPath).subarray(startOffset).toString('utf8');
    const human = text.split('\n').filter((l) => l.startsWith('openpgp-card-agent: '));
    await opts.stderr(human.length > 0 ? `${human.join('\n')}\n` : `openpgp-card-agent: the agent exited (code ${outcome.code}); see ${logPath}\n`);
    return outcome.code === 0 ? 1 : outcome.code;
  }
  child.unref();
  await opts.stdout(startedOutput(opts.shell, address.path, pid));
  return 0;
}
