import type { DoctorCheck } from './check.js';
import { keychainCheck } from './keychain-check.js';
import { notificationsCheck } from './notifications-check.js';
import { otherAgentsCheck } from './other-agents-check.js';
import { scdaemonCheck } from './scdaemon-check.js';
import { sshAuthSockCheck } from './ssh-auth-sock-check.js';

/**
 * The checks `doctor` runs, in this order. To come, each a DoctorCheck of its own once what it
 * needs exists: pcscd reachable (and how to start it here), readers and cards seen and which are
 * OpenPGP cards, a card held exclusively and by whom (the PC/SC binding); the socket directory on
 * a network filesystem (src/os/network-filesystem.ts); PIN stored, tries left, card blocked.
 */
export const CHECKS: readonly DoctorCheck[] = [sshAuthSockCheck, otherAgentsCheck, scdaemonCheck, keychainCheck, notificationsCheck];
