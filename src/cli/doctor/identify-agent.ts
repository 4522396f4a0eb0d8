import { basename } from 'node:path';
import { decodeQueryReply } from '../../protocol/extension.js';
import { hasProcfs, socketOwners, type ProcessInfo } from '../../os/procfs.js';
import { askAgent } from '../agent-query.js';
import { agentPid, PROCESS_TITLE } from '../pid-file.js';
import type { DoctorContext } from './check.js';

/** Who serves an agent socket. */
export type AgentKind = 'this-agent' | 'gpg-agent' | 'openssh' | 'other';

export interface AgentIdentity {
  readonly kind: AgentKind;
  readonly pid?: number;
  /** How the answer was found, for the report ("the process listening on it", "its pid file"). */
  readonly how: string;
  /** For other agents: the program's name, if known. */
  readonly name?: string;
}

function programName(p: ProcessInfo): string {
  return basename(p.argv[0] ?? p.comm);
}

/** What a process listening on the socket is. */
function kindOf(p: ProcessInfo): AgentKind {
  const name = programName(p);
  if (p.argv[0] === PROCESS_TITLE) return 'this-agent';
  if (name === 'gpg-agent' || p.comm === 'gpg-agent') return 'gpg-agent';
  if (name === 'ssh-agent' || p.comm === 'ssh-agent') return 'openssh';
  return 'other';
}

/** Whether the agent at `path` answers the `query` extension (draft-miller-ssh-agent §3.8.1), as we do. */
export async function answersQuery(path: string): Promise<string[] | undefined> {
  try {
    const a = await askAgent(path, { type: 'extension', extension: { kind: 'query' } });
    return a.kind === 'reply' ? decodeQueryReply(a.response) : undefined;
  } catch {
    return undefined;
  }
}

/**
 * Who serves the (live) agent socket at `path`: this agent, GnuPG's gpg-agent, OpenSSH's
 * ssh-agent, or another. Asked in order of certainty: the process holding the listening socket
 * (Linux /proc), the pid file beside it, the names gpg-agent and ssh-agent give their sockets,
 * and last our default socket answering `query` (systemd holds it before our agent runs).
 */
export async function identifyAgent(path: string, ctx: DoctorContext): Promise<AgentIdentity> {
  if (hasProcfs() && ctx.uid !== undefined) {
    const owners = socketOwners(path, ctx.uid);
    const direct = owners.find((p) => kindOf(p) !== 'other' || programName(p) !== 'systemd');
    if (direct !== undefined) {
      const kind = kindOf(direct);
      return { kind, pid: direct.pid, how: 'the process listening on it', ...(kind === 'other' ? { name: programName(direct) } : {}) };
    }
  }
  const pid = agentPid(path);
  if (pid !== undefined) return { kind: 'this-agent', pid, how: 'the pid file beside it' };
  const base = basename(path);
  if (base === 'S.gpg-agent.ssh') return { kind: 'gpg-agent', how: 'its name (S.gpg-agent.ssh)' };
  if (/\/ssh-[^/]+\/agent\.\d+$/.test(path) || /\/com\.apple\.launchd\.[^/]+\/Listeners$/.test(path) || /openssh-ssh-agent$/i.test(path)) {
    return { kind: 'openssh', how: 'its name' };
  }
  const names = await answersQuery(path);
  if (path === ctx.defaultAddress.path && names !== undefined) return { kind: 'this-agent', how: 'our default socket, answering the query extension' };
  return { kind: 'other', how: names === undefined ? 'it does not answer the query extension' : `it answers query with ${names.join(', ')}` };
}
