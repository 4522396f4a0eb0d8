import { CardBusyError, CardRemovedError, CardUnavailableError } from '../../errors.js';

/** The smartcard addon reports PC/SC failures by message; these are pcsc-lite's texts. */
export function isResetError(err: unknown): boolean {
  return err instanceof Error && /Card was reset/.test(err.message);
}

export function isServiceGone(err: unknown): boolean {
  return err instanceof Error && /service not running|service stopped|Invalid handle|Communication error/i.test(err.message);
}

/** Turns a PC/SC failure into our error, with the usual cause where there is one. */
export function mapPcscError(err: unknown, reader: string): Error {
  const msg = err instanceof Error ? err.message : String(err);
  if (/Sharing violation/i.test(msg)) {
    return new CardBusyError(
      `the card in "${reader}" is held exclusively by another program. Usually that is GnuPG's scdaemon: ` +
        'add "pcsc-shared" to ~/.gnupg/scdaemon.conf and run "gpgconf --kill scdaemon"',
    );
  }
  if (/Card was removed|No smart card present|Reader unavailable|Unknown reader/i.test(msg)) {
    return new CardRemovedError(`the card in "${reader}" was removed`);
  }
  if (/service not running|service stopped/i.test(msg)) {
    return new CardUnavailableError('pcscd is not running (PC/SC service not available)');
  }
  return new CardUnavailableError(`PC/SC error on "${reader}": ${msg}`);
}
