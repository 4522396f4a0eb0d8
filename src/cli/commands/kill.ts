import { readFileSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import { AgentError, ConfigError } from '../../errors.js';
import { getLogger } from '../../log.js';
import { killedOutput, type ShellSyntax } from '../shell-output.js';

export interface KillOptions {
  readonly env: NodeJS.ProcessEnv;
  readonly shell: ShellSyntax;
  readonly stdout: (text: string) => Promise<void>;
  /** How long to wait for the agent to exit after SIGTERM (default 6 s, past its 5 s drain). */
  readonly waitMs?: number;
}

/** True while `pid` names a live (not zombie) process. */
function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
  try {
    // /proc/PID/stat: "pid (comm) S ..."; a zombie has exited, it just is not reaped yet.
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) !== 'Z';
  } catch {
    return true;
  }
}

/**
 * `-k`: send SIGTERM to the agent named by SSH_AGENT_PID and print the commands that unset the
 * variables, as `ssh-agent -k` does. Unlike ssh-agent it waits (bounded) for the agent to exit,
 * so a script can rely on the socket being gone.
 */
export async function killAgent(opts: KillOptions): Promise<number> {
  const pidText = opts.env['SSH_AGENT_PID'];
  if (pidText === undefined || pidText === '') throw new ConfigError('SSH_AGENT_PID not set, cannot kill agent');
  const pid = /^\d+$/.test(pidText) ? Number(pidText) : NaN;
  if (!Number.isSafeInteger(pid) || pid < 2 || pid > 2 ** 31 - 1) {
    throw new ConfigError(`SSH_AGENT_PID="${pidText}", which is not a good PID`);
  }
  try {
    process.kill(pid, 'SIGTERM');
  } catch (err) {
    throw new AgentError(`kill ${pid}: ${(err as NodeJS.ErrnoException).code === 'ESRCH' ? 'no such process' : (err as Error).message}`);
  }
  const deadline = Date.now() + (opts.waitMs ?? 6000);
  while (alive(pid) && Date.now() < deadline) await sleep(50);
  if (alive(pid)) getLogger('cli').warn({ pid }, 'agent still running after SIGTERM');
  await opts.stdout(killedOutput(opts.shell, pid));
  return 0;
}
