import { setTimeout as sleep } from 'node:timers/promises';
import { AgentError, ConfigError } from '../../errors.js';
import { getLogger } from '../../log.js';
import { probeSocket } from '../../server/unix-socket.js';
import { pidFilePath, pidState, processAlive, readPidFile } from '../pid-file.js';
import { killedOutput, type ShellSyntax } from '../shell-output.js';

export interface KillOptions {
  readonly env: NodeJS.ProcessEnv;
  readonly shell: ShellSyntax;
  readonly stdout: (text: string) => Promise<void>;
  /** Where to look for the agent's pid file when SSH_AGENT_PID is unset (-a, else the default socket). */
  readonly socketPath?: string | undefined;
  /** How long to wait for the agent to exit after SIGTERM (default 6 s, past its 5 s drain). */
  readonly waitMs?: number;
}

/** SSH_AGENT_PID, checked as ssh-agent checks it. */
function pidFromEnv(text: string): number {
  const pid = /^\d+$/.test(text) ? Number(text) : NaN;
  if (!Number.isSafeInteger(pid) || pid < 2 || pid > 2 ** 31 - 1) throw new ConfigError(`SSH_AGENT_PID="${text}", which is not a good PID`);
  return pid;
}

/** The agent on `socketPath`, from the pid file beside it; refuses a pid that is not ours. */
async function pidFromSocket(socketPath: string): Promise<number> {
  const pid = readPidFile(socketPath);
  if (pid === undefined) {
    const live = (await probeSocket(socketPath).catch(() => 'absent')) === 'alive';
    throw new AgentError(
      live
        ? `an agent answers on ${socketPath} but left no pid file (${pidFilePath(socketPath)}); ` +
            'if it runs as a service, stop it with: systemctl --user stop openpgp-card-agent.socket openpgp-card-agent.service'
        : `SSH_AGENT_PID not set, and no agent runs on ${socketPath}`,
    );
  }
  const state = pidState(pid);
  if (state === 'dead') throw new AgentError(`no agent runs on ${socketPath}: its pid file names ${pid}, which has exited`);
  if (state === 'other') throw new AgentError(`${pidFilePath(socketPath)} names pid ${pid}, which is not openpgp-card-agent; not killing it`);
  return pid;
}

/**
 * `-k`: send SIGTERM to the agent named by SSH_AGENT_PID, or else to the one whose pid file lies
 * beside the socket (-a, or the default socket), and print the commands that unset the
 * variables, as `ssh-agent -k` does. Unlike ssh-agent it waits (bounded) for the agent to exit,
 * so a script can rely on the socket being gone.
 */
export async function killAgent(opts: KillOptions): Promise<number> {
  const pidText = opts.env['SSH_AGENT_PID'];
  let pid: number;
  if (pidText !== undefined && pidText !== '') pid = pidFromEnv(pidText);
  else if (opts.socketPath !== undefined) pid = await pidFromSocket(opts.socketPath);
  else throw new ConfigError('SSH_AGENT_PID not set, cannot kill agent');
  try {
    process.kill(pid, 'SIGTERM');
  } catch (err) {
    throw new AgentError(`kill ${pid}: ${(err as NodeJS.ErrnoException).code === 'ESRCH' ? 'no such process' : (err as Error).message}`);
  }
  const deadline = Date.now() + (opts.waitMs ?? 6000);
  while (processAlive(pid) && Date.now() < deadline) await sleep(50);
  if (processAlive(pid)) getLogger('cli').warn({ pid }, 'agent still running after SIGTERM');
  await opts.stdout(killedOutput(opts.shell, pid));
  return 0;
}
