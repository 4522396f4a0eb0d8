import { CardBusyError, CardRemovedError, CardResetError, CardUnavailableError } from '../../errors.js';
import { isCardGone, isServiceGone, pcscCodeName, SCARD_RC } from './pcsc-codes.js';

/** A PC/SC function failed; `pcscCode` is its return code (SCARD_E_..., SCARD_W_...). */
export class PcscError extends CardUnavailableError {
  override readonly code: string = 'E_PCSC';
  readonly pcscCode: number;
  constructor(
    readonly fn: string,
    pcscCode: number,
  ) {
    super(`${fn}: ${pcscCodeName(pcscCode)}`);
    this.pcscCode = pcscCode >>> 0;
  }
}

/** A PC/SC call did not come back in time: pcscd hung, or another application held the card. */
export class PcscTimeoutError extends CardUnavailableError {
  override readonly code = 'E_PCSC_TIMEOUT';
  constructor(
    readonly op: string,
    readonly waitingFor: string,
    readonly ms: number,
  ) {
    super(
      waitingFor === 'begin'
        ? `another application kept the card to itself for ${ms / 1000} s (a PC/SC transaction); try again when it is done`
        : `pcscd did not answer ${op} within ${ms / 1000} s; is it hung?`,
    );
  }
}

/** Turns a PC/SC failure into the error the card layer acts on, with the usual cause where there is one. */
export function cardErrorFrom(err: unknown, reader: string): Error {
  if (!(err instanceof PcscError)) return err instanceof Error ? err : new CardUnavailableError(String(err));
  const c = err.pcscCode;
  if (c === SCARD_RC.W_RESET_CARD) return new CardResetError(`the card in "${reader}" was reset by another application`, { cause: err });
  if (c === SCARD_RC.E_SHARING_VIOLATION) {
    return new CardBusyError(
      `the card in "${reader}" is held exclusively by another program. Usually that is GnuPG's scdaemon: ` +
        'add "pcsc-shared" to ~/.gnupg/scdaemon.conf and run "gpgconf --kill scdaemon"',
      { cause: err },
    );
  }
  if (isCardGone(c)) return new CardRemovedError(`the card in "${reader}" was removed`, { cause: err });
  if (isServiceGone(c)) return new CardUnavailableError(`pcscd is not running or went away (${pcscCodeName(c)})`, { cause: err });
  return new CardUnavailableError(`PC/SC error on "${reader}": ${err.message}`, { cause: err });
}
