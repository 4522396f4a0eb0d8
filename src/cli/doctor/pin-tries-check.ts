import { openPgpCards, pcscUnreachable, triesText } from './cards-check.js';
import type { PinTries } from './card-survey.js';
import type { DoctorCheck, Finding } from './check.js';

/** How to unblock a card's User PIN, with what it still has (GET DATA C4's counters). */
export function unblockFix(ident: string, tries: PinTries): string[] {
  const ways: string[] = [];
  if (tries.resetCode > 0) ways.push(`  with the Reset Code (${triesText(tries.resetCode)}): gpg --card-edit, then: unblock`);
  if (tries.admin > 0) ways.push(`  with the Admin PIN (${triesText(tries.admin)}): gpg --card-edit, then: admin, then: passwd, then: 2 (unblock PIN)`);
  if (ways.length === 0) {
    return [
      `${ident}: the Admin PIN is blocked too and no Reset Code is left; only a factory reset makes the card usable again, and it deletes the keys on it:`,
      '  gpg --card-edit, then: admin, then: factory-reset',
    ];
  }
  return [`${ident}: unblock the User PIN with gpg (its scdaemon must reach the card: see scdaemon),`, ...ways, `  then give the new PIN to the agent: ssh-add -s ${ident}`];
}

/**
 * Each OpenPGP card's User PIN retry counter (read with GET DATA C4, so no try is spent): a blocked
 * PIN is said plainly, with the ways to unblock it; one try left is a warning.
 */
export const pinTriesCheck: DoctorCheck = {
  id: 'pin-tries',
  title: 'PIN tries',
  async run(ctx): Promise<Finding> {
    const survey = await ctx.pcsc();
    if (survey.kind !== 'ok') return pcscUnreachable(survey);
    const cards = openPgpCards(survey.readers);
    if (cards.length === 0) return { verdict: 'skip', summary: 'no OpenPGP card was read (see readers and cards)' };
    const blocked: string[] = [];
    const lastTry: string[] = [];
    const unknown: string[] = [];
    const fix: string[] = [];
    const detail: string[] = [];
    for (const { card } of cards) {
      if (card.tries === undefined) {
        unknown.push(card.ident);
        detail.push(`${card.ident}: the retry counters could not be read (${card.triesProblem ?? 'no answer'})`);
        continue;
      }
      const t = card.tries;
      detail.push(`${card.ident}: User PIN ${triesText(t.user)}, Reset Code ${t.resetCode === 0 ? 'not set or blocked' : triesText(t.resetCode)}, Admin PIN ${triesText(t.admin)}`);
      if (t.user === 0) {
        blocked.push(card.ident);
        fix.push(...unblockFix(card.ident, t));
      } else if (t.user === 1) {
        lastTry.push(card.ident);
        fix.push(`${card.ident}: make sure of the PIN before you type it; give it once with: ssh-add -s ${card.ident}`);
      }
    }
    if (blocked.length > 0) {
      return {
        verdict: 'fail',
        summary: `the User PIN of ${blocked.join(', ')} is blocked: ${blocked.length === 1 ? 'that card signs' : 'those cards sign'} nothing until it is unblocked`,
        detail,
        fix,
      };
    }
    if (lastTry.length > 0) {
      return { verdict: 'warn', summary: `one try left for the User PIN of ${lastTry.join(', ')}: the next wrong PIN blocks it`, detail, fix };
    }
    if (unknown.length > 0) return { verdict: 'warn', summary: `the PIN retry counter of ${unknown.join(', ')} could not be read`, detail };
    return {
      verdict: 'ok',
      summary: `User PIN: ${cards.map(({ card }) => `${triesText(card.tries!.user)} (${card.ident})`).join(', ')}`,
      detail,
    };
  },
};
