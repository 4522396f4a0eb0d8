import { probeSocket } from '../../server/unix-socket.js';
import { profileLine } from '../profile-line.js';
import type { DoctorCheck, DoctorContext, Finding } from './check.js';
import { identifyAgent } from './identify-agent.js';

/** The profile line that points SSH_AUTH_SOCK at our default socket. */
function ourProfileLine(ctx: DoctorContext): string {
  return profileLine(ctx.defaultAddress.path, ctx.env, ctx.platform);
}

async function liveOurs(ctx: DoctorContext): Promise<boolean> {
  try {
    return (await probeSocket(ctx.defaultAddress.path, 1000)) === 'alive' && (await identifyAgent(ctx.defaultAddress.path, ctx)).kind === 'this-agent';
  } catch {
    return false;
  }
}

/** How to point SSH_AUTH_SOCK at us: at the running agent if there is one, else start one. */
async function pointAtUs(ctx: DoctorContext): Promise<string[]> {
  if (await liveOurs(ctx)) return [`openpgp-card-agent runs on ${ctx.defaultAddress.path}; point SSH_AUTH_SOCK at it:`, `  ${ourProfileLine(ctx)}`];
  return [
    'start openpgp-card-agent with your session and point SSH_AUTH_SOCK at it:',
    '  openpgp-card-agent service install   (prints the line for your shell profile)',
    'or, for this shell only:',
    '  eval "$(openpgp-card-agent -s)"',
  ];
}

/** SSH_AUTH_SOCK: set, alive, and this agent (not gpg-agent, not OpenSSH's ssh-agent, not a dead socket). */
export const sshAuthSockCheck: DoctorCheck = {
  id: 'ssh-auth-sock',
  title: 'SSH_AUTH_SOCK',
  async run(ctx): Promise<Finding> {
    const sock = ctx.env['SSH_AUTH_SOCK'];
    if (sock === undefined || sock === '') {
      return { verdict: 'fail', summary: 'SSH_AUTH_SOCK is not set: ssh asks no agent', fix: await pointAtUs(ctx) };
    }
    let probe;
    try {
      probe = await probeSocket(sock, 2000);
    } catch (err) {
      return { verdict: 'fail', summary: `SSH_AUTH_SOCK=${sock} cannot be reached: ${(err as Error).message}`, fix: await pointAtUs(ctx) };
    }
    if (probe === 'absent') return { verdict: 'fail', summary: `SSH_AUTH_SOCK=${sock}, but there is no such socket`, fix: await pointAtUs(ctx) };
    if (probe === 'refused') {
      return {
        verdict: 'fail',
        summary: `SSH_AUTH_SOCK=${sock} is a dead socket: nothing listens on it (the agent that made it has exited)`,
        fix: await pointAtUs(ctx),
      };
    }
    const who = await identifyAgent(sock, ctx);
    const pid = who.pid === undefined ? '' : `, pid ${who.pid}`;
    switch (who.kind) {
      case 'this-agent':
        return { verdict: 'ok', summary: `points at openpgp-card-agent (${sock}${pid})`, detail: [`known by ${who.how}`] };
      case 'gpg-agent':
        return {
          verdict: 'fail',
          summary: `points at GnuPG's gpg-agent (${sock}${pid}), not at openpgp-card-agent`,
          detail: [`known by ${who.how}`, 'gpg-agent serves the card through scdaemon, which may hold it exclusively'],
          fix: [
            ...(await pointAtUs(ctx)),
            'and stop gpg-agent from setting SSH_AUTH_SOCK: remove enable-ssh-support from ~/.gnupg/gpg-agent.conf',
            'and the SSH_AUTH_SOCK=$(gpgconf --list-dirs agent-ssh-socket) line from your shell profile',
          ],
        };
      case 'openssh':
        return {
          verdict: 'fail',
          summary: `points at OpenSSH's ssh-agent (${sock}${pid}), which cannot use OpenPGP cards`,
          detail: [`known by ${who.how}`],
          fix: [...(await pointAtUs(ctx)), 'and remove the line that starts ssh-agent (eval "$(ssh-agent)") from your shell profile'],
        };
      default:
        return {
          verdict: 'fail',
          summary: `points at another agent (${sock}${pid}${who.name === undefined ? '' : `, ${who.name}`}), not at openpgp-card-agent`,
          detail: [`known by ${who.how}`],
          fix: await pointAtUs(ctx),
        };
    }
  },
};
