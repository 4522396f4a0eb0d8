import { cardsCheck } from './cards-check.js';
import type { DoctorCheck } from './check.js';
import { exclusiveCheck } from './exclusive-check.js';
import { keychainCheck } from './keychain-check.js';
import { notificationsCheck } from './notifications-check.js';
import { otherAgentsCheck } from './other-agents-check.js';
import { pcscdCheck } from './pcscd-check.js';
import { pinStoredCheck } from './pin-stored-check.js';
import { pinTriesCheck } from './pin-tries-check.js';
import { scdaemonCheck } from './scdaemon-check.js';
import { socketFilesystemCheck } from './socket-filesystem-check.js';
import { sshAuthSockCheck } from './ssh-auth-sock-check.js';

/**
 * The checks `doctor` runs, in this order: where ssh looks (SSH_AUTH_SOCK, other agents, the
 * socket's filesystem), the cards (pcscd, readers and cards, a card held exclusively, PIN tries,
 * GnuPG's scdaemon), the PINs (keychain, PIN stored), and notifications. The PC/SC checks share
 * one bounded survey (DoctorContext.pcsc).
 */
export const CHECKS: readonly DoctorCheck[] = [
  sshAuthSockCheck,
  otherAgentsCheck,
  socketFilesystemCheck,
  pcscdCheck,
  cardsCheck,
  exclusiveCheck,
  pinTriesCheck,
  scdaemonCheck,
  keychainCheck,
  pinStoredCheck,
  notificationsCheck,
];
