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

/**
 * Another application reset the card (SCARD_W_RESET_CARD): the application is deselected and
 * every verified PIN forgotten. The card session reconnects and retries the whole operation once.
 */
export class CardResetError extends CardUnavailableError {
  override readonly code = 'E_CARD_RESET';
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

/**
 * The card did not accept a PIN sent with VERIFY. Any answer other than 9000 counts: some cards
 * answer a wrong PIN with 6982 or 6A80 instead of 63Cx and still take the try. `retriesLeft`
 * is known when the card said (63Cx), undefined otherwise.
 */
export class PinRejectedError extends CardStatusError {
  override readonly code: string = 'E_PIN_REJECTED';
  constructor(
    message: string,
    sw: number,
    readonly retriesLeft: number | undefined,
  ) {
    super(message, sw);
  }
}

/** VERIFY was refused (63Cx): `retriesLeft` tries remain before the PIN blocks. */
export class PinIncorrectError extends PinRejectedError {
  override readonly code = 'E_PIN_INCORRECT';
  declare readonly retriesLeft: number;
  constructor(message: string, sw: number, retriesLeft: number) {
    super(message, sw, retriesLeft);
  }
}

/** The PIN is blocked (6983): only the Reset Code or the Admin PIN can unblock it. */
export class PinBlockedError extends PinRejectedError {
  override readonly code = 'E_PIN_BLOCKED';
  constructor(message: string, sw: number) {
    super(message, sw, 0);
  }
}

/** 6982 to anything but VERIFY: the command needs a PIN that is not verified (now). */
export class SecurityStatusNotSatisfiedError extends CardStatusError {
  override readonly code = 'E_SECURITY_STATUS';
}

/** 6985: the card refuses the command in its current state (OpenPGP card 3.4.1 §7.4). */
export class ConditionsOfUseError extends CardStatusError {
  override readonly code = 'E_CONDITIONS_OF_USE';
}

/**
 * 6D00 or 6E00 (instruction or class not supported) to a command every OpenPGP card knows: another
 * application (a YubiKey's PIV or OTP side, say) was selected by another program. The card
 * session selects ours again and retries the whole operation once.
 */
export class ForeignApplicationError extends CardStatusError {
  override readonly code = 'E_FOREIGN_APPLICATION';
}

/** 6600: security-related issue; on cards with a touch button, no touch came in time (UIF). */
export class SecurityIssueError extends CardStatusError {
  override readonly code = 'E_SECURITY_ISSUE';
}

/** 6A88: the referenced data (a key slot, a data object) does not exist. */
export class ReferencedDataNotFoundError extends CardStatusError {
  override readonly code = 'E_DATA_NOT_FOUND';
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
