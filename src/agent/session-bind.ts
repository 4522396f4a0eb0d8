import { AgentError } from '../errors.js';
import type { Extension } from '../protocol/messages.js';
import { sha256Fingerprint } from '../ssh/fingerprint.js';
import { encodePublicKey, signingPublicKey } from '../ssh/public-key.js';
import { verifySshSignature } from '../ssh/verify.js';
import { equalBytes } from '../wire/bytes.js';
import type { SessionBinding } from './key-provider.js';

/** Limits from OpenSSH ssh-agent.c (AGENT_MAX_SESSION_IDS, AGENT_MAX_SID_LEN). */
/** How prompts, notifications and logs name a bound host: its known_hosts name, else its key's fingerprint. */
export function hostLabel(b: SessionBinding): string {
  return b.hostName ?? b.hostKeyFingerprint;
}

export const MAX_SESSION_BINDINGS = 16;
export const MAX_SESSION_ID_LENGTH = 128;

/** A session-bind@openssh.com request that must be refused. */
export class SessionBindError extends AgentError {
  override readonly code = 'E_SESSION_BIND';
}

/**
 * The fingerprint ssh-agent logs for a host key: of the plain key, also when the host sent a
 * certificate (sshkey_fingerprint hashes the key without its certificate).
 */
function hostKeyFingerprintOf(blob: Uint8Array): string {
  return sha256Fingerprint(encodePublicKey(signingPublicKey(blob)));
}

/**
 * Applies a session-bind@openssh.com request to a connection's bindings (OpenSSH PROTOCOL.agent
 * §1, following ssh-agent.c process_ext_session_bind): the host key must have signed the session
 * id; a connection bound for authentication (not forwarding) takes no further bindings; the
 * same session id may not come back with another host key. Returns the bindings to store.
 */
export function bindSession(
  existing: readonly SessionBinding[],
  ext: Extract<Extension, { kind: 'session-bind' }>,
): SessionBinding[] {
  // OpenSSH checks the count first, so even a repeat of a recorded binding fails at the limit.
  if (existing.length >= MAX_SESSION_BINDINGS) {
    throw new SessionBindError(`more than ${MAX_SESSION_BINDINGS} session bindings on one connection`);
  }
  if (ext.sessionId.length > MAX_SESSION_ID_LENGTH) {
    throw new SessionBindError(`session id of ${ext.sessionId.length} bytes exceeds ${MAX_SESSION_ID_LENGTH}`);
  }
  if (!verifySshSignature(ext.hostKey, ext.sessionId, ext.signature)) {
    throw new SessionBindError(`host key blob ${sha256Fingerprint(ext.hostKey)} did not sign the session id`);
  }
  const hostKeyFingerprint = hostKeyFingerprintOf(ext.hostKey);
  for (const b of existing) {
    if (!b.forwarding) {
      throw new SessionBindError('connection already bound for an authentication attempt');
    }
    if (equalBytes(b.sessionId, ext.sessionId)) {
      if (equalBytes(b.hostKey, ext.hostKey)) return [...existing]; // already recorded
      throw new SessionBindError('session id already bound to a different host key');
    }
  }
  return [
    ...existing,
    {
      hostKey: Uint8Array.from(ext.hostKey),
      hostKeyFingerprint,
      forwarding: ext.forwarding,
      sessionId: Uint8Array.from(ext.sessionId),
    },
  ];
}
