import { join } from 'node:path';
import { pcscUnreachable } from './cards-check.js';
import type { DoctorCheck, Finding } from './check.js';
import { pcscSocketFor, type PcscClient } from './pcsc-clients.js';
import { exclusiveScdaemons, killScdaemonCommand, scdaemonFix } from './scdaemon-check.js';

function commandLine(c: PcscClient): string {
  const line = c.argv.join(' ');
  return line.length > 100 ? `${line.slice(0, 97)}...` : line;
}

/**
 * A card another program opened with SCARD_SHARE_EXCLUSIVE (our shared connect gets
 * SCARD_E_SHARING_VIOLATION), and which program when it can be told: pcscd does not say, so the
 * programs with the PC/SC library loaded that use the same pcscd are looked at (Linux /proc).
 * GnuPG's scdaemon without pcsc-shared is the usual one, and has an exact fix.
 */
export const exclusiveCheck: DoctorCheck = {
  id: 'card-exclusive',
  title: 'card in use',
  async run(ctx): Promise<Finding> {
    const survey = await ctx.pcsc();
    if (survey.kind !== 'ok') return pcscUnreachable(survey);
    const held = survey.readers.filter((r) => r.card.kind === 'exclusive').map((r) => r.reader);
    const busy = survey.readers.flatMap((r) => (r.card.kind === 'busy' ? [`${r.reader}: ${r.card.message}`] : []));
    if (held.length === 0) {
      if (busy.length > 0) {
        return {
          verdict: 'warn',
          summary: 'another application kept a card to itself (a PC/SC transaction) while doctor waited',
          detail: busy,
          fix: ['this passes when that application is done; if it stays, close the program that uses the card'],
        };
      }
      return { verdict: 'ok', summary: 'no card is held exclusively by another program' };
    }
    const which = held.length === 1 ? `the card in ${held[0]} is` : `the cards in ${held.join(', ')} are`;
    const socket = pcscSocketFor(ctx.env);
    const clients = ctx.pcscClients(socket);
    const scdaemons = await exclusiveScdaemons(clients, ctx);
    const first = scdaemons[0];
    if (first !== undefined) {
      const pids = scdaemons.map((s) => s.client.pid).join(', ');
      return {
        verdict: 'fail',
        summary: `${which} held exclusively by GnuPG's scdaemon (pid ${pids}), which runs without pcsc-shared: this agent cannot use ${held.length === 1 ? 'it' : 'them'}`,
        detail: scdaemons.map((s) => `scdaemon pid ${s.client.pid}: GnuPG home ${s.home}, ${s.missing.length === 0 ? '' : `scdaemon.conf lacks ${s.missing.join(' and ')}, `}on the pcscd at ${socket}`),
        fix: scdaemonFix(join(first.home, 'scdaemon.conf'), first.missing, killScdaemonCommand(first.home, ctx)),
      };
    }
    const others = clients.map((c) => `${c.name} (pid ${c.pid}): ${commandLine(c)}`);
    return {
      verdict: 'fail',
      summary: `${which} held exclusively by another program: this agent cannot use ${held.length === 1 ? 'it' : 'them'}`,
      detail:
        others.length > 0
          ? ['pcscd does not say which program; these use the same pcscd now:', ...others.map((o) => `  ${o}`)]
          : ['pcscd does not say which program, and none could be found here'],
      fix: [
        `close the program that holds it${others.length > 0 ? ' (one of those above)' : ''}, or make it open the card in shared mode;`,
        'the agent takes the card as soon as it is free',
        ...(others.length > 0 ? [] : ["usually that is GnuPG's scdaemon without pcsc-shared (see scdaemon), perhaps another user's"]),
      ],
    };
  },
};
