import { AgentError } from '../errors.js';
import type { Extension } from '../protocol/messages.js';
import { sha256Fingerprint } from '../ssh/fingerprint.js';
import { verifySshSignature } from '../ssh/verify.js';
import type { SessionBinding } from './key-provider.js';

/** Limits from OpenSSH ssh-agent.c (AGENT_MAX_SESSION_IDS, AGENT_MAX_SID_LEN). */
export const MAX_SESSION_BINDINGS = 16;
export const MAX_SESSION_ID_LENGTH = 128;

/** A session-bind@openssh.com request that must be refused. */
export class SessionBindError extends AgentError {
  override readonly code = 'E_SESSION_BIND';
}

function equal(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && a.every((v, i) => v === b[i]);
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
  if (ext.sessionId.length > MAX_SESSION_ID_LENGTH) {
    throw new SessionBindError(`session id of ${ext.sessionId.length} bytes exceeds ${MAX_SESSION_ID_LENGTH}`);
  }
  const hostKeyFingerprint = sha256Fingerprint(ext.hostKey);
  if (!verifySshSignature(ext.hostKey, ext.sessionId, ext.signature)) {
    throw new SessionBindError(`host key ${hostKeyFingerprint} did not sign the session id`);
  }
  for (const b of existing) {
    if (!b.forwarding) {
      throw new SessionBindError('connection already bound for an authentication attempt');
    }
    if (equal(b.sessionId, ext.sessionId)) {
      if (equal(b.hostKey, ext.hostKey)) return [...existing]; // already recorded
      throw new SessionBindError('session id already bound to a different host key');
    }
  }
  if (existing.length >= MAX_SESSION_BINDINGS) {
    throw new SessionBindError(`more than ${MAX_SESSION_BINDINGS} session bindings on one connection`);
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
