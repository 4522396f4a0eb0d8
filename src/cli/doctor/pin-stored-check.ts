import type { PinLocation } from '../../pins/keychain-pins.js';
import { openPgpCards, pcscUnreachable } from './cards-check.js';
import type { DoctorCheck, Finding } from './check.js';

const WHERE: Partial<Record<PinLocation, string>> = {
  keychain: 'stored in the OS keychain',
  config: "stored in openpgp-card-state's config.toml (Direct)",
  'kernel-keyring': 'in the kernel keyring (Ephemeral, until it expires)',
};

/**
 * Whether the agent finds each OpenPGP card's User PIN without asking (the pins module, as the
 * agent looks it up: the keychain entry openpgp-card-state uses, or that tool's config). Only
 * looks: nothing is stored, changed or removed. A PIN the running agent holds in memory only
 * (ssh-add -s -t) is that agent's, and not seen here.
 */
export const pinStoredCheck: DoctorCheck = {
  id: 'pin-stored',
  title: 'PIN stored',
  async run(ctx): Promise<Finding> {
    const survey = await ctx.pcsc();
    if (survey.kind !== 'ok') return pcscUnreachable(survey);
    const cards = openPgpCards(survey.readers);
    if (cards.length === 0) return { verdict: 'skip', summary: 'no OpenPGP card was read (see readers and cards)' };
    const stored: string[] = [];
    const missing: string[] = [];
    const failed: string[] = [];
    const detail: string[] = [];
    for (const { card } of cards) {
      let where: string | undefined;
      let problem: string | undefined;
      try {
        const s = await ctx.pinStatus(card.ident);
        where = WHERE[s.location];
        problem = s.storeError;
      } catch (err) {
        problem = (err as Error).message;
      }
      if (where !== undefined) {
        stored.push(card.ident);
        detail.push(`${card.ident}: ${where}`);
      } else if (problem !== undefined) {
        failed.push(card.ident);
        detail.push(`${card.ident}: the PIN store could not be asked: ${problem}`);
      } else {
        missing.push(card.ident);
        detail.push(`${card.ident}: no PIN stored`);
      }
    }
    if (missing.length + failed.length === 0) return { verdict: 'ok', summary: `the agent finds the PIN of ${stored.join(', ')}`, detail };
    const fix = [
      ...missing.map((i) => `to store it: ssh-add -s ${i}   (the card checks the PIN first; the agent keeps it in the keychain)`),
      ...(failed.length > 0 ? ['see keychain: a stored PIN is found only when the keychain answers'] : []),
      ...(missing.length > 0 ? ['to be asked each time instead, nothing to do'] : []),
    ];
    return {
      verdict: 'warn',
      summary:
        missing.length === 0
          ? `whether the PIN of ${failed.join(', ')} is stored could not be told`
          : `no PIN stored for ${missing.join(', ')}: the agent asks for it (pinentry, else SSH_ASKPASS) when the card needs it`,
      detail,
      fix,
    };
  },
};
