import { OpenPgpCard } from '../../card/openpgp/openpgp-card.js';
import { PcscConnection } from '../../card/pcsc/pcsc-connection.js';
import { PcscTimeoutError } from '../../card/pcsc/pcsc-errors.js';
import { surveyReaders, type PcscSurvey, type ReaderSlot } from '../../card/pcsc/pcsc-survey.js';
import { CardBusyError, CardRemovedError, CardStatusError } from '../../errors.js';
import type { Logger } from '../../log.js';

/** Retry counters from GET DATA C4 (OpenPGP card 3.4.1 §4.4.1 "PW Status Bytes"). */
export interface PinTries {
  /** User PIN (PW1). */
  readonly user: number;
  /** Resetting Code; 0 also when none is set. */
  readonly resetCode: number;
  /** Admin PIN (PW3). */
  readonly admin: number;
}

/** What doctor found in one reader. */
export type CardFinding =
  | { readonly kind: 'empty' }
  | { readonly kind: 'openpgp'; readonly ident: string; readonly version: string; readonly tries?: PinTries; readonly triesProblem?: string }
  /** A card whose SELECT of the OpenPGP application failed. */
  | { readonly kind: 'other'; readonly why: string }
  /** SCardConnect in shared mode answered SCARD_E_SHARING_VIOLATION (or pcscd reports the card as exclusive). */
  | { readonly kind: 'exclusive' }
  /** Another application kept a PC/SC transaction longer than the bound. */
  | { readonly kind: 'busy'; readonly message: string }
  | { readonly kind: 'mute' }
  | { readonly kind: 'unavailable' }
  | { readonly kind: 'error'; readonly message: string };

export interface ReaderFinding {
  readonly reader: string;
  readonly card: CardFinding;
}

/** The survey `doctor`'s PC/SC checks share: pcscd, then each reader and its card. */
export type CardSurvey = Exclude<PcscSurvey, { kind: 'ok' }> | { readonly kind: 'ok'; readonly readers: readonly ReaderFinding[] };

/** Bound on every PC/SC call and on waiting for another application's transaction. */
export const DOCTOR_PCSC_BOUND_MS = 3000;

/**
 * pcscd, its readers, and for each card: OpenPGP or not (SELECT in a short PC/SC transaction,
 * shared mode), its ident, and the PIN retry counters (GET DATA C4; never VERIFY, so no try is
 * spent). Every call is bounded: a hung pcscd gives 'no-answer', never a hang.
 */
export async function surveyCards(log: Logger, boundMs = DOCTOR_PCSC_BOUND_MS): Promise<CardSurvey> {
  const survey = await surveyReaders(log, { timeoutMs: boundMs });
  if (survey.kind !== 'ok') return survey;
  const readers = await Promise.all(survey.readers.map(async (r) => ({ reader: r.name, card: await probeReader(r.name, r.slot, log, boundMs) })));
  return { kind: 'ok', readers };
}

async function probeReader(reader: string, slot: ReaderSlot, log: Logger, boundMs: number): Promise<CardFinding> {
  switch (slot) {
    case 'empty':
      return { kind: 'empty' };
    case 'mute':
      return { kind: 'mute' };
    case 'unavailable':
      return { kind: 'unavailable' };
    default:
      // 'exclusive' too: the connect itself is the proof (SCARD_E_SHARING_VIOLATION).
      return probeCard(reader, log, boundMs);
  }
}

async function probeCard(reader: string, log: Logger, boundMs: number): Promise<CardFinding> {
  let transport: PcscConnection;
  try {
    transport = await PcscConnection.open(reader, log, { callTimeoutMs: boundMs, transmitTimeoutMs: boundMs, transactionWaitMs: boundMs });
  } catch (err) {
    if (err instanceof CardBusyError) return { kind: 'exclusive' };
    if (err instanceof CardRemovedError) return { kind: 'empty' };
    return { kind: 'error', message: (err as Error).message };
  }
  const card = new OpenPgpCard(OpenPgpCard.channelFor(transport));
  transport.beginTransaction();
  try {
    try {
      await card.select();
    } catch (err) {
      if (err instanceof CardStatusError) return { kind: 'other', why: `it does not know the OpenPGP application (SELECT: ${err.message})` };
      throw err;
    }
    const app = await card.readApplicationData();
    try {
      const pw = await card.pw1Status();
      return { kind: 'openpgp', ident: app.aid.ident, version: app.aid.version, tries: { user: pw.retriesPw1, resetCode: pw.retriesRc, admin: pw.retriesPw3 } };
    } catch (err) {
      return { kind: 'openpgp', ident: app.aid.ident, version: app.aid.version, triesProblem: (err as Error).message };
    }
  } catch (err) {
    if (err instanceof PcscTimeoutError && err.waitingFor === 'begin') return { kind: 'busy', message: err.message };
    if (err instanceof CardRemovedError) return { kind: 'empty' };
    return { kind: 'error', message: (err as Error).message };
  } finally {
    // Ends the transaction and disconnects (bounded; a blocked thread is left behind).
    await transport.close();
  }
}
