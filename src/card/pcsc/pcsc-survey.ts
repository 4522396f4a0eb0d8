import { NativeUnavailableError, loadLibrary } from '../../os/ffi.js';
import type { Logger } from '../../log.js';
import { isServiceGone, pcscCodeName, SCARD } from './pcsc-codes.js';
import { PcscError, PcscTimeoutError } from './pcsc-errors.js';
import { platformFor } from './pcsc-platform.js';
import { PcscThread } from './pcsc-thread.js';

/** What is in a reader, as pcscd reports it (SCardGetStatusChange, without waiting). */
export type ReaderSlot =
  /** No card. */
  | 'empty'
  /** A card, answering, free or shared. */
  | 'card'
  /** A card another application connected to with SCARD_SHARE_EXCLUSIVE. */
  | 'exclusive'
  /** A card that does not answer its reset (SCARD_STATE_MUTE). */
  | 'mute'
  /** The reader cannot be used (SCARD_STATE_UNAVAILABLE, e.g. taken by another driver). */
  | 'unavailable'
  /** pcscd gave no state for it. */
  | 'unknown';

export interface SurveyedReader {
  readonly name: string;
  readonly slot: ReaderSlot;
  /** The card's ATR (empty without a card). */
  readonly atr: Uint8Array;
}

/** One look at PC/SC: bounded, so a hung pcscd is an answer too. */
export type PcscSurvey =
  | { readonly kind: 'ok'; readonly readers: readonly SurveyedReader[] }
  /** The PC/SC library is not installed (no libpcsclite). */
  | { readonly kind: 'no-library'; readonly message: string }
  /** pcscd (the Smart Card service) is not running: SCARD_E_NO_SERVICE and its kin. */
  | { readonly kind: 'no-service'; readonly message: string }
  /** A call did not come back within the bound: pcscd is hung or stopped. Its thread is left behind. */
  | { readonly kind: 'no-answer'; readonly call: string; readonly ms: number }
  | { readonly kind: 'error'; readonly message: string };

/** The PC/SC call each worker operation is. */
const CALL_NAMES: Readonly<Record<string, string>> = {
  establish: 'SCardEstablishContext',
  listReaders: 'SCardListReaders',
  getStatusChange: 'SCardGetStatusChange',
  release: 'SCardReleaseContext',
};

export function slotOf(eventState: number): ReaderSlot {
  if ((eventState & SCARD.STATE_UNAVAILABLE) !== 0) return 'unavailable';
  if ((eventState & SCARD.STATE_PRESENT) === 0) return 'empty';
  if ((eventState & SCARD.STATE_MUTE) !== 0) return 'mute';
  if ((eventState & SCARD.STATE_EXCLUSIVE) !== 0) return 'exclusive';
  return 'card';
}

/**
 * Asks PC/SC once, on a thread of its own, which readers there are and what is in them, each
 * call bounded by `timeoutMs`: for `doctor`, which must end even when pcscd does not answer (the
 * thread blocked in C is then left behind; PcscThread.anyRunning() tells the CLI to exit
 * without waiting for it). Connects to no card.
 */
export async function surveyReaders(log: Logger, options: { readonly timeoutMs: number; readonly platform?: NodeJS.Platform }): Promise<PcscSurvey> {
  try {
    // Loading the library here (not in the worker) tells "not installed" apart from "not running".
    loadLibrary('the PC/SC library', platformFor(options.platform ?? process.platform).libraries);
  } catch (err) {
    if (err instanceof NativeUnavailableError) return { kind: 'no-library', message: err.message };
    throw err;
  }
  const thread = new PcscThread('doctor survey', log);
  const bound = { timeoutMs: options.timeoutMs };
  let established = false;
  try {
    await thread.call('establish', {}, bound);
    established = true;
    const names = await thread.call('listReaders', {}, bound);
    const states = names.length === 0 ? [] : await thread.call('getStatusChange', { readers: names.map((reader) => ({ reader, known: SCARD.STATE_UNAWARE })), timeoutMs: 0 }, bound);
    const readers = names.map((name) => {
      const s = states?.find((x) => x.reader === name);
      return s === undefined ? { name, slot: 'unknown' as const, atr: new Uint8Array(0) } : { name, slot: slotOf(s.eventState), atr: s.atr };
    });
    return { kind: 'ok', readers };
  } catch (err) {
    if (err instanceof PcscTimeoutError) return { kind: 'no-answer', call: CALL_NAMES[err.op] ?? err.op, ms: err.ms };
    if (err instanceof PcscError && isServiceGone(err.pcscCode)) return { kind: 'no-service', message: `${err.fn}: ${pcscCodeName(err.pcscCode)}` };
    return { kind: 'error', message: err instanceof Error ? err.message : String(err) };
  } finally {
    if (!thread.stuck) {
      if (established) await thread.call('release', {}, bound).catch(() => undefined);
      await thread.close();
    } else {
      void thread.close();
    }
  }
}
