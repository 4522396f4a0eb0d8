import type { Secret } from '../secret.js';

/** A key constraint, draft-miller-ssh-agent §3.2.7 / §5.2. */
export type Constraint =
  | { readonly kind: 'lifetime'; readonly seconds: number }
  | { readonly kind: 'confirm' }
  /** OpenSSH SSH_AGENT_CONSTRAIN_MAXSIGN: uint32 signature budget. */
  | { readonly kind: 'maxsign'; readonly maxSignatures: number }
  /**
   * SSH_AGENT_CONSTRAIN_EXTENSION: name then extension-specific bytes. The bytes carry no length
   * of their own, so `contents` is what the known OpenSSH extensions consume, or the rest of the
   * message for extensions we do not know.
   */
  | { readonly kind: 'extension'; readonly name: string; readonly contents: Uint8Array };

/** The private part of a key in SSH_AGENTC_ADD_IDENTITY, draft-miller-ssh-agent §3.2.1-3.2.5. */
export type PrivateKey =
  | {
      readonly keyType: 'ssh-rsa';
      /** mpints exactly as on the wire (two's complement, possibly with a 00 pad). */
      readonly n: Uint8Array;
      readonly e: Uint8Array;
      readonly d: Uint8Array;
      readonly iqmp: Uint8Array;
      readonly p: Uint8Array;
      readonly q: Uint8Array;
    }
  | {
      readonly keyType: 'ecdsa-sha2-nistp256' | 'ecdsa-sha2-nistp384' | 'ecdsa-sha2-nistp521';
      readonly curve: string;
      readonly q: Uint8Array;
      /** mpint as on the wire. */
      readonly d: Uint8Array;
    }
  | {
      readonly keyType: 'ssh-ed25519';
      /** ENC(A), 32 bytes. */
      readonly publicKey: Uint8Array;
      /** k || ENC(A), 64 bytes. */
      readonly privateKey: Uint8Array;
    };

export interface RequestIdentities {
  readonly type: 'request-identities';
}
/** draft-miller-ssh-agent §3.6 */
export interface SignRequest {
  readonly type: 'sign-request';
  readonly keyBlob: Uint8Array;
  readonly data: Uint8Array;
  readonly flags: number;
}
/** draft-miller-ssh-agent §3.2. Unknown key types (certificates, sk-*) keep everything after the type name in `raw`. */
export type AddIdentityBody =
  | { readonly key: PrivateKey; readonly comment: string }
  | { readonly key: { readonly keyType: 'unknown'; readonly name: string }; readonly raw: Uint8Array };
export type AddIdentity = { readonly type: 'add-identity' } & AddIdentityBody;
/** draft-miller-ssh-agent §3.2.7. For unknown key types the constraints stay inside `raw`. */
export type AddIdConstrained = { readonly type: 'add-id-constrained'; readonly constraints: readonly Constraint[] } & AddIdentityBody;
/** draft-miller-ssh-agent §3.4 */
export interface RemoveIdentity {
  readonly type: 'remove-identity';
  readonly keyBlob: Uint8Array;
}
/** draft-miller-ssh-agent §3.5 */
export interface RemoveAllIdentities {
  readonly type: 'remove-all-identities';
}
/** draft-miller-ssh-agent §3.2.6 */
export interface AddSmartcardKey {
  readonly type: 'add-smartcard-key';
  readonly readerId: string;
  readonly pin: Secret;
}
/** draft-miller-ssh-agent §3.2.7 */
export interface AddSmartcardKeyConstrained {
  readonly type: 'add-smartcard-key-constrained';
  readonly readerId: string;
  readonly pin: Secret;
  readonly constraints: readonly Constraint[];
}
/** draft-miller-ssh-agent §3.4 */
export interface RemoveSmartcardKey {
  readonly type: 'remove-smartcard-key';
  readonly readerId: string;
  readonly pin: Secret;
}
/** draft-miller-ssh-agent §3.7 */
export interface Lock {
  readonly type: 'lock';
  readonly passphrase: Secret;
}
export interface Unlock {
  readonly type: 'unlock';
  readonly passphrase: Secret;
}

/** The payload of SSH_AGENTC_EXTENSION, draft-miller-ssh-agent §3.8. */
export type Extension =
  /** draft-miller-ssh-agent §3.8.1: no contents. */
  | { readonly kind: 'query' }
  /** OpenSSH PROTOCOL.agent §1: session-bind@openssh.com. */
  | {
      readonly kind: 'session-bind';
      readonly hostKey: Uint8Array;
      readonly sessionId: Uint8Array;
      readonly signature: Uint8Array;
      readonly forwarding: boolean;
    }
  | { readonly kind: 'other'; readonly name: string; readonly contents: Uint8Array };

export interface ExtensionRequest {
  readonly type: 'extension';
  readonly extension: Extension;
}

/** A message type we do not know; `body` is everything after the type byte. */
export interface UnknownMessage {
  readonly type: 'unknown';
  readonly code: number;
  readonly body: Uint8Array;
}

export type Request =
  | RequestIdentities
  | SignRequest
  | AddIdentity
  | AddIdConstrained
  | RemoveIdentity
  | RemoveAllIdentities
  | AddSmartcardKey
  | AddSmartcardKeyConstrained
  | RemoveSmartcardKey
  | Lock
  | Unlock
  | ExtensionRequest
  | UnknownMessage;

export type RequestType = Request['type'];

export interface Identity {
  readonly keyBlob: Uint8Array;
  readonly comment: string;
}

export type Response =
  | { readonly type: 'failure' }
  /**
   * SSH_AGENT_SUCCESS. OpenSSH answers an extension with SUCCESS followed by the extension's
   * reply (e.g. the `query` list), so SUCCESS may carry `contents`.
   */
  | { readonly type: 'success'; readonly contents?: Uint8Array }
  | { readonly type: 'identities-answer'; readonly identities: readonly Identity[] }
  | { readonly type: 'sign-response'; readonly signature: Uint8Array }
  | { readonly type: 'extension-failure' }
  | { readonly type: 'extension-response'; readonly name: string; readonly contents: Uint8Array }
  | UnknownMessage;

export type ResponseType = Response['type'];
