import type { CardFinding, CardSurvey, ReaderFinding } from './card-survey.js';
import type { DoctorCheck, Finding } from './check.js';
import { triesLeft } from '../../card/iso7816/status.js';

/** The verdict of the PC/SC checks when pcscd could not be asked: the pcscd check says why. */
export function pcscUnreachable(survey: Exclude<CardSurvey, { kind: 'ok' }>): Finding {
  return { verdict: 'skip', summary: survey.kind === 'no-answer' ? 'pcscd does not answer (see pcscd)' : 'pcscd cannot be reached (see pcscd)' };
}

/** The OpenPGP cards the survey read. */
export function openPgpCards(readers: readonly ReaderFinding[]): Array<{ reader: string; card: Extract<CardFinding, { kind: 'openpgp' }> }> {
  return readers.flatMap((r) => (r.card.kind === 'openpgp' ? [{ reader: r.reader, card: r.card }] : []));
}

export function triesText(n: number): string {
  return n === 0 ? 'blocked (0 tries left)' : triesLeft(n);
}

/** One line per reader: what is in it. */
export function describeReader(r: ReaderFinding): string {
  const c = r.card;
  switch (c.kind) {
    case 'empty':
      return `${r.reader}: no card`;
    case 'openpgp':
      return `${r.reader}: OpenPGP card ${c.ident} (version ${c.version}), User PIN ${c.tries === undefined ? `tries unknown (${c.triesProblem ?? 'not read'})` : triesText(c.tries.user)}`;
    case 'other':
      return `${r.reader}: a card that is not an OpenPGP card: ${c.why}`;
    case 'exclusive':
      return `${r.reader}: a card held exclusively by another program (see card in use)`;
    case 'busy':
      return `${r.reader}: a card another application kept to itself: ${c.message}`;
    case 'mute':
      return `${r.reader}: a card that does not answer (mute): take it out and put it back`;
    case 'unavailable':
      return `${r.reader}: the reader cannot be used now (another driver has it, or it is being reset)`;
    case 'error':
      return `${r.reader}: the card could not be read: ${c.message}`;
  }
}

function plural(n: number, one: string, many = `${one}s`): string {
  return `${n} ${n === 1 ? one : many}`;
}

/** The readers pcscd sees, what is in each, and which cards are OpenPGP cards. */
export const cardsCheck: DoctorCheck = {
  id: 'cards',
  title: 'readers and cards',
  async run(ctx): Promise<Finding> {
    const survey = await ctx.pcsc();
    if (survey.kind !== 'ok') return pcscUnreachable(survey);
    const detail = survey.readers.map(describeReader);
    if (survey.readers.length === 0) {
      return {
        verdict: 'warn',
        summary: 'pcscd sees no reader: is the card plugged in? (a USB token such as a YubiKey or a Nitrokey is its own reader)',
        fix: [
          'plug in the card; it appears without a restart',
          "if it is plugged in and still not seen: pcscd needs the reader's driver (CCID: the package libccid or ccid),",
          "and GnuPG's scdaemon must not take the USB device itself: disable-ccid in scdaemon.conf (see scdaemon)",
        ],
      };
    }
    const cards = openPgpCards(survey.readers);
    if (cards.length > 0) {
      return { verdict: 'ok', summary: `${plural(cards.length, 'OpenPGP card')}: ${cards.map((c) => `${c.card.ident} in ${c.reader}`).join(', ')}`, detail };
    }
    const withCard = survey.readers.filter((r) => r.card.kind !== 'empty');
    if (withCard.length === 0) {
      return { verdict: 'warn', summary: `no card in ${survey.readers.length === 1 ? 'the reader' : `any of the ${survey.readers.length} readers`}`, detail, fix: ['put the OpenPGP card in (or plug in the token)'] };
    }
    const kinds = new Set(withCard.map((r) => r.card.kind));
    const fix = [
      ...(kinds.has('exclusive') || kinds.has('busy') ? ['a card another program holds: see card in use'] : []),
      ...(kinds.has('other') ? ['a card without the OpenPGP application cannot serve this agent: use an OpenPGP card (or enable its OpenPGP application)'] : []),
      ...(kinds.has('mute') || kinds.has('unavailable') || kinds.has('error') ? ['a card that does not answer: take it out and put it back (unplug and plug in a token)'] : []),
    ];
    return { verdict: 'warn', summary: `no OpenPGP card could be read (${plural(withCard.length, 'card')} seen)`, detail, fix };
  },
};
