/** PC/SC constants (winscard.h / pcsclite.h; the same values on every system). */
export const SCARD = {
  SCOPE_USER: 0,
  SCOPE_SYSTEM: 2,
  SHARE_EXCLUSIVE: 1,
  SHARE_SHARED: 2,
  SHARE_DIRECT: 3,
  PROTOCOL_T0: 1,
  PROTOCOL_T1: 2,
  LEAVE_CARD: 0,
  RESET_CARD: 1,
  UNPOWER_CARD: 2,
  STATE_UNAWARE: 0x0000,
  STATE_IGNORE: 0x0001,
  STATE_CHANGED: 0x0002,
  STATE_UNKNOWN: 0x0004,
  STATE_UNAVAILABLE: 0x0008,
  STATE_EMPTY: 0x0010,
  STATE_PRESENT: 0x0020,
  STATE_EXCLUSIVE: 0x0080,
  STATE_INUSE: 0x0100,
  STATE_MUTE: 0x0200,
  /** pcsc-lite and Windows keep an event counter in the high 16 bits of dwEventState. */
  STATE_COUNTER_MASK: 0xffff0000,
  INFINITE: 0xffffffff,
} as const;

/** The reader name that asks SCardGetStatusChange to report readers coming and going. */
export const PNP_NOTIFICATION = '\\\\?PnP?\\Notification';

/** Return codes we act on or name (pcsclite.h, "PC/SC return codes"). */
export const SCARD_RC = {
  S_SUCCESS: 0x00000000,
  E_CANCELLED: 0x80100002,
  E_INVALID_HANDLE: 0x80100003,
  E_INVALID_PARAMETER: 0x80100004,
  E_NO_MEMORY: 0x80100006,
  E_INSUFFICIENT_BUFFER: 0x80100008,
  E_UNKNOWN_READER: 0x80100009,
  E_TIMEOUT: 0x8010000a,
  E_SHARING_VIOLATION: 0x8010000b,
  E_NO_SMARTCARD: 0x8010000c,
  E_PROTO_MISMATCH: 0x8010000f,
  E_NOT_READY: 0x80100010,
  E_INVALID_VALUE: 0x80100011,
  E_SYSTEM_CANCELLED: 0x80100012,
  F_COMM_ERROR: 0x80100013,
  F_UNKNOWN_ERROR: 0x80100014,
  E_NOT_TRANSACTED: 0x80100016,
  E_READER_UNAVAILABLE: 0x80100017,
  E_NO_SERVICE: 0x8010001d,
  E_SERVICE_STOPPED: 0x8010001e,
  E_NO_READERS_AVAILABLE: 0x8010002e,
  E_COMM_DATA_LOST: 0x8010002f,
  W_UNSUPPORTED_CARD: 0x80100065,
  W_UNRESPONSIVE_CARD: 0x80100066,
  W_UNPOWERED_CARD: 0x80100067,
  W_RESET_CARD: 0x80100068,
  W_REMOVED_CARD: 0x80100069,
} as const;

const NAMES = new Map<number, string>(Object.entries(SCARD_RC).map(([k, v]) => [v, `SCARD_${k}`]));

/** "SCARD_E_NO_SERVICE" for 0x8010001D; hex for codes we do not name. */
export function pcscCodeName(code: number): string {
  return NAMES.get(code >>> 0) ?? `0x${(code >>> 0).toString(16).toUpperCase().padStart(8, '0')}`;
}

/** pcscd (or the Windows service) is not there, or went away under us. */
export function isServiceGone(code: number): boolean {
  const c = code >>> 0;
  return c === SCARD_RC.E_NO_SERVICE || c === SCARD_RC.E_SERVICE_STOPPED || c === SCARD_RC.F_COMM_ERROR || c === SCARD_RC.E_INVALID_HANDLE;
}

/** The card (or its reader) is gone. */
export function isCardGone(code: number): boolean {
  const c = code >>> 0;
  return (
    c === SCARD_RC.W_REMOVED_CARD ||
    c === SCARD_RC.E_NO_SMARTCARD ||
    c === SCARD_RC.E_READER_UNAVAILABLE ||
    c === SCARD_RC.E_UNKNOWN_READER ||
    c === SCARD_RC.W_UNPOWERED_CARD ||
    c === SCARD_RC.W_UNRESPONSIVE_CARD
  );
}
