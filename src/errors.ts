/**
 * One error hierarchy for the whole agent. Every subclass has a stable `code`; handlers turn
 * errors into SSH_AGENT_FAILURE plus a log line, and only the CLI maps them to exit codes.
 */
export class AgentError extends Error {
  readonly code: string = 'E_AGENT';
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = new.target.name;
  }
}

/** Malformed bytes on the wire (agent frames, SSH blobs, APDUs, TLV). Carries the offset. */
export class WireFormatError extends AgentError {
  override readonly code = 'E_WIRE_FORMAT';
  constructor(
    message: string,
    readonly offset: number,
  ) {
    super(`${message} (at offset ${offset})`);
  }
}

/** The card (or its reader, or pcscd) cannot be reached right now. */
export class CardUnavailableError extends AgentError {
  override readonly code: string = 'E_CARD_UNAVAILABLE';
}

/** The card was removed while an operation was in flight. */
export class CardRemovedError extends CardUnavailableError {
  override readonly code = 'E_CARD_REMOVED';
}

/** Another process holds the card exclusively (SCARD_E_SHARING_VIOLATION). */
export class CardBusyError extends CardUnavailableError {
  override readonly code = 'E_CARD_BUSY';
}

/** The card answered with a status word other than 9000. */
export class CardStatusError extends AgentError {
  override readonly code: string = 'E_CARD_STATUS';
  constructor(
    message: string,
    readonly sw: number,
  ) {
    super(`${message}: status word ${sw.toString(16).toUpperCase().padStart(4, '0')}`);
  }
}

/** VERIFY was refused (63Cx): `retriesLeft` tries remain before the PIN blocks. */
export class PinIncorrectError extends CardStatusError {
  override readonly code = 'E_PIN_INCORRECT';
  constructor(
    message: string,
    sw: number,
    readonly retriesLeft: number,
  ) {
    super(message, sw);
  }
}

/** The PIN is blocked (6983): only the Reset Code or the Admin PIN can unblock it. */
export class PinBlockedError extends CardStatusError {
  override readonly code = 'E_PIN_BLOCKED';
}

/** A PIN is needed and none is known (nothing stored, or the stored one is known bad). */
export class PinRequiredError extends AgentError {
  override readonly code = 'E_PIN_REQUIRED';
}

/** The card or key is of a kind we cannot use for SSH (e.g. brainpool curves). */
export class UnsupportedError extends AgentError {
  override readonly code = 'E_UNSUPPORTED';
}

/** The OS keychain is unreachable or refused the operation. */
export class KeychainError extends AgentError {
  override readonly code = 'E_KEYCHAIN';
}

/** The card asked for a touch and none came in time. */
export class TouchTimeoutError extends AgentError {
  override readonly code = 'E_TOUCH_TIMEOUT';
}

/** Bad configuration or command-line input (e.g. an invalid DEBUG directive). */
export class ConfigError extends AgentError {
  override readonly code = 'E_CONFIG';
}

/** Another agent already answers on the socket we were asked to listen on. */
export class AlreadyRunningError extends AgentError {
  override readonly code = 'E_ALREADY_RUNNING';
}
