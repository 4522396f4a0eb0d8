import type { Constraint } from '../protocol/messages.js';
import type { Secret } from '../secret.js';
import type { ConnectionContext } from '../server/frame-handler.js';

export type { Constraint };

/** One key the agent offers: its SSH public-key blob and a comment (e.g. "cardno:000F_12345678"). */
export interface Identity {
  keyBlob: Uint8Array;
  comment: string;
  /**
   * The card ident (`MMMM:SSSSSSSS`) the key lives on. The agent keeps per-card policy
   * (destination constraints, the forwarding policy) by it; an identity without one gets only
   * what applies to every key.
   */
  ident?: string;
}

/** A session-bind@openssh.com binding recorded on a connection (OpenSSH PROTOCOL.agent §1). */
export interface SessionBinding {
  hostKey: Uint8Array;
  /** "SHA256:…" of hostKey. */
  hostKeyFingerprint: string;
  /** false: the connection is used for user authentication on that host; true: forwarded to it. */
  forwarding: boolean;
  /** The SSH session identifier (exchange hash H of the first key exchange). */
  sessionId: Uint8Array;
  /**
   * The host's name from known_hosts (hashed and @cert-authority lines included), when the
   * agent found one; show it instead of the fingerprint in prompts and notifications.
   */
  hostName?: string;
}

/** What a key provider learns about the request it serves. */
export interface RequestContext {
  conn: ConnectionContext;
  /**
   * The latest session-bind@openssh.com binding on this connection, if any: the host this
   * request is for (through `ssh -A`, the last hop).
   */
  session?: SessionBinding;
  /** All bindings recorded on this connection, oldest first (several when forwarded). */
  sessions: readonly SessionBinding[];
}

/**
 * The agent's key source (the card registry). The agent does policy (lock state, sessions,
 * message mapping); the provider owns the keys. Errors are AgentErrors; the agent turns them
 * into SSH_AGENT_FAILURE plus a log line.
 */
export interface KeyProvider {
  listIdentities(ctx: RequestContext): Promise<Identity[]>;
  /**
   * Signs `data` with the key whose public blob is `keyBlob`. `flags` are SignFlags
   * (SSH_AGENT_RSA_SHA2_256/512). Returns an SSH signature blob, or null when the key is not
   * one of ours.
   */
  sign(keyBlob: Uint8Array, data: Uint8Array, flags: number, ctx: RequestContext): Promise<Uint8Array | null>;
  /** ssh-add -s READER: make the card in `readerId` usable with `pin`. */
  addSmartcardKey(readerId: string, pin: Secret, constraints: readonly Constraint[], ctx: RequestContext): Promise<void>;
  /** ssh-add -e READER: forget the card in `readerId` (and its PIN). */
  removeSmartcardKey(readerId: string, pin: Secret, ctx: RequestContext): Promise<void>;
  /**
   * Optional. ssh-add -D (SSH_AGENTC_REMOVE_ALL_IDENTITIES): forget cached PINs and card sessions.
   * Without it the agent answers SSH_AGENT_FAILURE.
   */
  removeAllIdentities?(ctx: RequestContext): Promise<void>;
  /**
   * Optional. The identity of `keyBlob` among those held now, without asking the card (the sign
   * path's lookup must cost no APDU). Without it the agent lists.
   */
  identityFor?(keyBlob: Uint8Array): Identity | undefined;
  /** Optional. ssh-add -d of one key: true when it was ours (and is dealt with). */
  removeIdentity?(keyBlob: Uint8Array, ctx: RequestContext): Promise<boolean>;
  /** Optional. The agent was locked (ssh-add -x): take back what the keys could do meanwhile. */
  agentLocked?(): Promise<void>;
}
