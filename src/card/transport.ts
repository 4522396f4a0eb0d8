/**
 * The one seam between the card driver and whatever carries APDUs: PC/SC, the in-process
 * simulator, or a replayed recording. Everything above it speaks ISO 7816; nothing below it
 * knows about OpenPGP.
 */
export interface CardTransport {
  /** Human-readable name for logs (the PC/SC reader name, or "simulator"). */
  readonly name: string;
  /**
   * Sends one command APDU and resolves with the raw response: data followed by SW1 SW2.
   * No 61xx/6Cxx handling happens here; that is iso7816's job.
   * Rejects with CardRemovedError / CardResetError / CardUnavailableError when the card is gone,
   * was reset by another application, or cannot be reached.
   */
  transmit(apdu: Uint8Array): Promise<Uint8Array>;
  /**
   * Optional: sends the APDUs in order, back to back, and stops after the first response whose
   * status word is not 9000; resolves with the responses of those sent (at least one). Where the
   * transport has a cost per call (PC/SC's thread), a series pays it once. Errors as transmit.
   */
  transmitSeries?(apdus: readonly Uint8Array[]): Promise<Uint8Array[]>;
  /** Releases the connection. Idempotent. */
  close(): Promise<void>;
  /**
   * Optional: the next transmit begins exclusive use of the card (a PC/SC transaction), so no
   * other application's APDU lands between ours until endTransaction. Begun lazily, so an
   * operation that sends nothing costs nothing.
   */
  beginTransaction?(): void;
  /**
   * Ends the transaction if one was begun; with `reset` the card is also reset (which makes it
   * forget every verified PIN). Callers that do not need the outcome need not wait.
   */
  endTransaction?(options?: { readonly reset?: boolean }): Promise<void>;
  /** After a CardResetError: reconnect to the card as it is now (SCardReconnect, leave card). */
  reconnect?(): Promise<void>;
}

/** Whether a raw response ends in 9000. */
export function answeredOk(resp: Uint8Array): boolean {
  return resp.length >= 2 && resp[resp.length - 2] === 0x90 && resp[resp.length - 1] === 0x00;
}
