/** Message numbers, draft-miller-ssh-agent §5.1 (OpenSSH PROTOCOL.agent). Client → agent. */
export const AgentRequest = {
  SSH_AGENTC_REQUEST_IDENTITIES: 11,
  SSH_AGENTC_SIGN_REQUEST: 13,
  SSH_AGENTC_ADD_IDENTITY: 17,
  SSH_AGENTC_REMOVE_IDENTITY: 18,
  SSH_AGENTC_REMOVE_ALL_IDENTITIES: 19,
  SSH_AGENTC_ADD_SMARTCARD_KEY: 20,
  SSH_AGENTC_REMOVE_SMARTCARD_KEY: 21,
  SSH_AGENTC_LOCK: 22,
  SSH_AGENTC_UNLOCK: 23,
  SSH_AGENTC_ADD_ID_CONSTRAINED: 25,
  SSH_AGENTC_ADD_SMARTCARD_KEY_CONSTRAINED: 26,
  SSH_AGENTC_EXTENSION: 27,
} as const;

/** Message numbers, draft-miller-ssh-agent §5.1. Agent → client. */
export const AgentResponse = {
  SSH_AGENT_FAILURE: 5,
  SSH_AGENT_SUCCESS: 6,
  SSH_AGENT_IDENTITIES_ANSWER: 12,
  SSH_AGENT_SIGN_RESPONSE: 14,
  SSH_AGENT_EXTENSION_FAILURE: 28,
  SSH_AGENT_EXTENSION_RESPONSE: 29,
} as const;

/** Signature flags in SSH_AGENTC_SIGN_REQUEST, draft-miller-ssh-agent §5.3. */
export const SignFlags = {
  SSH_AGENT_RSA_SHA2_256: 2,
  SSH_AGENT_RSA_SHA2_512: 4,
} as const;

/** Key constraint identifiers, draft-miller-ssh-agent §5.2. */
export const ConstraintCode = {
  SSH_AGENT_CONSTRAIN_LIFETIME: 1,
  SSH_AGENT_CONSTRAIN_CONFIRM: 2,
  /** OpenSSH-only (XMSS signature budget); PROTOCOL.agent. */
  SSH_AGENT_CONSTRAIN_MAXSIGN: 3,
  SSH_AGENT_CONSTRAIN_EXTENSION: 255,
} as const;

/** Extension names this codebase knows by structure. */
export const ExtensionName = {
  QUERY: 'query',
  SESSION_BIND: 'session-bind@openssh.com',
} as const;
