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
   * Rejects with CardRemovedError / CardUnavailableError when the card is gone.
   */
  transmit(apdu: Uint8Array): Promise<Uint8Array>;
  /** Releases the connection. Idempotent. */
  close(): Promise<void>;
}
