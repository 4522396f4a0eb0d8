/**
 * Defaults the CLI shows in --help, kept apart from the modules that use them so that parsing
 * the command line loads nothing else.
 */

/**
 * --card-idle-lock: seconds without a card operation after which the card is told to forget its
 * verified PIN. Five seconds covers the bursts real use makes (git over ssh, a loop of logins,
 * parallel ansible forks: signatures seconds apart keep their one APDU each), while a card left
 * alone is closed to other programs almost at once. pivy-agent uses 2 s; gpg-agent never closes.
 */
export const DEFAULT_CARD_IDLE_LOCK_SECONDS = 5;

/**
 * --card-wait: seconds a card operation waits while another application has the card to itself
 * (a PC/SC transaction: GnuPG's last milliseconds; a stuck program's, for ever).
 */
export const DEFAULT_CARD_WAIT_SECONDS = 10;

/** --forwarded: what happens to requests that come through agent forwarding (ssh -A). */
export const FORWARDED_POLICIES = ['allow', 'confirm', 'deny'] as const;
export type ForwardedPolicy = (typeof FORWARDED_POLICIES)[number];

/**
 * --max-connections: client connections open at once. Each costs Node about 10 KiB however
 * little it sent; 256 keeps a flood of stalled connections to a few MB while leaving far more
 * than parallel ssh, git or ansible use.
 */
export const DEFAULT_MAX_CONNECTIONS = 256;
