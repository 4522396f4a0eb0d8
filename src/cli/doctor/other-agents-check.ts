import { hasProcfs, listeningPathsOf, processesOf } from '../../os/procfs.js';
import { agentPid, PROCESS_TITLE } from '../pid-file.js';
import type { DoctorCheck, Finding } from './check.js';

/** More than one openpgp-card-agent of this user: each would serve the same cards, on different sockets. */
export const otherAgentsCheck: DoctorCheck = {
  id: 'second-agent',
  title: 'other agents',
  async run(ctx): Promise<Finding> {
    if (!hasProcfs() || ctx.uid === undefined) {
      const pid = ctx.defaultAddress.kind === 'unix' ? agentPid(ctx.defaultAddress.path) : undefined;
      return pid === undefined
        ? { verdict: 'skip', summary: 'cannot list processes here; no agent pid file on the default socket' }
        : { verdict: 'ok', summary: `openpgp-card-agent pid ${pid} on ${ctx.defaultAddress.path}` };
    }
    const agents = processesOf(ctx.uid)
      .filter((p) => p.pid !== process.pid && p.argv[0] === PROCESS_TITLE)
      .map((p) => ({ pid: p.pid, sockets: listeningPathsOf(p.pid) }))
      .filter((a) => a.sockets.length > 0);
    const lines = agents.map((a) => `pid ${a.pid} on ${a.sockets.join(', ')}`);
    if (agents.length <= 1) {
      return { verdict: 'ok', summary: agents.length === 0 ? 'no openpgp-card-agent is running' : `one openpgp-card-agent: ${lines[0]}` };
    }
    return {
      verdict: 'warn',
      summary: `${agents.length} openpgp-card-agent processes are running; ssh uses only the one SSH_AUTH_SOCK names`,
      detail: lines,
      fix: [
        'keep one: stop the others with: openpgp-card-agent -k -a SOCKET (or kill PID)',
        'service install starts one at login; then do not also start one with -s in your shell profile',
      ],
    };
  },
};
