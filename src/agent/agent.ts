import { setTimeout as sleep } from 'node:timers/promises';
import { AgentError } from '../errors.js';
import { getLogger, type Logger } from '../log.js';
import { ExtensionName } from '../protocol/codes.js';
import { queryResponse } from '../protocol/extension.js';
import type { Request, RequestType, Response } from '../protocol/messages.js';
import { decodeRequest } from '../protocol/request.js';
import { encodeResponse } from '../protocol/response.js';
import type { ConnectionContext, FrameHandler } from '../server/frame-handler.js';
import type { ExtensionHandler } from './extension-handler.js';
import type { KeyProvider, RequestContext, SessionBinding } from './key-provider.js';
import { LockHash, unlockFailureDelay } from './lock.js';
import { bindSession } from './session-bind.js';

export interface AgentOptions {
  /** The key source; without one the agent lists no identities and fails card requests. */
  keys?: KeyProvider;
  log?: Logger;
  /** Delay step after a wrong UNLOCK (default 100 ms, as OpenSSH). Tests pass 0. */
  unlockDelayMs?: number;
  /** Private extensions by name (listed by `query`), e.g. the OpenPGP signing ones. */
  extensions?: ReadonlyMap<string, ExtensionHandler>;
}

/** Extensions listed in the answer to `query` (draft-miller-ssh-agent §3.8.1). */
export const SUPPORTED_EXTENSIONS = [ExtensionName.QUERY, ExtensionName.SESSION_BIND] as const;

type Handler<K extends RequestType> = (req: Extract<Request, { type: K }>, ctx: RequestContext) => Promise<Response>;
type HandlerTable = { readonly [K in RequestType]?: Handler<K> };

const FAILURE: Response = { type: 'failure' };
const SUCCESS: Response = { type: 'success' };
const FAILURE_BODY = encodeResponse(FAILURE);

/**
 * The ssh-agent core: decodes a request, applies the agent's policy (lock state, session
 * bindings) and hands key work to the KeyProvider. Never throws; every failure becomes
 * SSH_AGENT_FAILURE and one log line.
 */
export class Agent implements FrameHandler {
  private readonly keys: KeyProvider | undefined;
  private readonly log: Logger;
  private readonly unlockDelayMs: number;
  private lock: LockHash | null = null;
  /** Set while a LOCK is being hashed, so a racing second LOCK fails as OpenSSH's would. */
  private locking = false;
  private unlockFailures = 0;
  private readonly sessions = new WeakMap<ConnectionContext, SessionBinding[]>();
  private readonly handlers: HandlerTable;
  private readonly extensions: ReadonlyMap<string, ExtensionHandler>;

  constructor(options: AgentOptions = {}) {
    this.keys = options.keys;
    this.extensions = options.extensions ?? new Map();
    this.log = options.log ?? getLogger('agent');
    this.unlockDelayMs = options.unlockDelayMs ?? 100;
    this.handlers = {
      'request-identities': (_req, ctx) => this.listIdentities(ctx),
      'sign-request': (req, ctx) => this.signRequest(req, ctx),
      'add-identity': () => this.addIdentity(),
      'add-id-constrained': () => this.addIdentity(),
      'add-smartcard-key': (req, ctx) => this.addSmartcardKey(req.readerId, req.pin, [], ctx),
      'add-smartcard-key-constrained': (req, ctx) => this.addSmartcardKey(req.readerId, req.pin, req.constraints, ctx),
      'remove-smartcard-key': (req, ctx) => this.removeSmartcardKey(req, ctx),
      'remove-all-identities': (_req, ctx) => this.removeAllIdentities(ctx),
      lock: (req) => this.lockAgent(req),
      unlock: (req) => this.unlockAgent(req),
      extension: (req, ctx) => this.extension(req, ctx),
    };
  }

  get locked(): boolean {
    return this.lock !== null;
  }

  async handleFrame(body: Uint8Array, conn: ConnectionContext): Promise<Uint8Array | null> {
    let req: Request;
    try {
      req = decodeRequest(body);
    } catch (err) {
      this.logFailure(conn, 'decode', err);
      return FAILURE_BODY;
    }
    this.log.debug({ conn: conn.id, req: req.type, ...(req.type === 'unknown' ? { code: req.code } : {}) }, 'request');
    try {
      return encodeResponse(await this.dispatch(req, conn));
    } catch (err) {
      this.logFailure(conn, req.type, err);
      return FAILURE_BODY;
    } finally {
      wipeSecrets(req);
    }
  }

  connectionClosed(conn: ConnectionContext): void {
    this.sessions.delete(conn);
  }

  private async dispatch(req: Request, conn: ConnectionContext): Promise<Response> {
    const sessions = this.sessions.get(conn) ?? [];
    const session = sessions[sessions.length - 1];
    const ctx: RequestContext = session === undefined ? { conn, sessions } : { conn, sessions, session };
    // OpenSSH ssh-agent.c process_message: while locked only UNLOCK works, and
    // REQUEST_IDENTITIES answers an empty list.
    if (this.lock !== null && req.type !== 'unlock') {
      if (req.type === 'request-identities') return { type: 'identities-answer', identities: [] };
      this.log.debug({ conn: conn.id, req: req.type }, 'agent is locked');
      return FAILURE;
    }
    const handler = this.handlers[req.type] as Handler<typeof req.type> | undefined;
    if (handler === undefined) {
      if (req.type === 'remove-identity') {
        this.log.info({ conn: conn.id, req: req.type }, 'card keys are removed with ssh-add -e READER, not ssh-add -d');
      } else if (req.type === 'unknown') {
        this.log.debug({ conn: conn.id, code: req.code }, 'unknown message type');
      }
      return FAILURE;
    }
    return handler(req as never, ctx);
  }

  /** draft-miller-ssh-agent §3.5. Asked of the provider each time, so card changes show at once. */
  private async listIdentities(ctx: RequestContext): Promise<Response> {
    if (this.keys === undefined) return { type: 'identities-answer', identities: [] };
    const identities = await this.keys.listIdentities(ctx);
    return { type: 'identities-answer', identities };
  }

  private async signRequest(req: Extract<Request, { type: 'sign-request' }>, ctx: RequestContext): Promise<Response> {
    if (this.keys === undefined) return FAILURE;
    const signature = await this.keys.sign(req.keyBlob, req.data, req.flags, ctx);
    if (signature === null) {
      this.log.info({ conn: ctx.conn.id }, 'sign request for a key this agent does not hold');
      return FAILURE;
    }
    return { type: 'sign-response', signature };
  }

  private async addIdentity(): Promise<Response> {
    this.log.info('refusing to add a key: this agent serves only card keys');
    return FAILURE;
  }

  private async addSmartcardKey(
    readerId: string,
    pin: Extract<Request, { type: 'add-smartcard-key' }>['pin'],
    constraints: Extract<Request, { type: 'add-smartcard-key-constrained' }>['constraints'],
    ctx: RequestContext,
  ): Promise<Response> {
    if (this.keys === undefined) {
      this.log.info({ conn: ctx.conn.id }, 'no card support configured');
      return FAILURE;
    }
    await this.keys.addSmartcardKey(readerId, pin, constraints, ctx);
    return SUCCESS;
  }

  private async removeSmartcardKey(
    req: Extract<Request, { type: 'remove-smartcard-key' }>,
    ctx: RequestContext,
  ): Promise<Response> {
    if (this.keys === undefined) {
      this.log.info({ conn: ctx.conn.id }, 'no card support configured');
      return FAILURE;
    }
    await this.keys.removeSmartcardKey(req.readerId, req.pin, ctx);
    return SUCCESS;
  }

  /** draft-miller-ssh-agent §3.4 */
  private async removeAllIdentities(ctx: RequestContext): Promise<Response> {
    if (this.keys?.removeAllIdentities === undefined) {
      this.log.info({ conn: ctx.conn.id }, 'card keys are removed with ssh-add -e READER');
      return FAILURE;
    }
    await this.keys.removeAllIdentities(ctx);
    return SUCCESS;
  }

  /** draft-miller-ssh-agent §3.7 */
  private async lockAgent(req: Extract<Request, { type: 'lock' }>): Promise<Response> {
    if (this.lock !== null || this.locking) return FAILURE;
    this.locking = true;
    try {
      this.lock = await LockHash.create(req.passphrase);
      this.unlockFailures = 0;
    } finally {
      this.locking = false;
    }
    this.log.info('agent locked');
    // A card left verified would sign for any program that talks to it directly.
    await this.keys?.agentLocked?.();
    return SUCCESS;
  }

  /** draft-miller-ssh-agent §3.7 */
  private async unlockAgent(req: Extract<Request, { type: 'unlock' }>): Promise<Response> {
    const lock = this.lock;
    if (lock === null) {
      this.log.debug('unlock while not locked');
      return FAILURE;
    }
    if (await lock.matches(req.passphrase)) {
      if (this.lock === lock) this.lock = null;
      this.unlockFailures = 0;
      this.log.info('agent unlocked');
      return SUCCESS;
    }
    this.unlockFailures++;
    const delay = unlockFailureDelay(this.unlockFailures, this.unlockDelayMs);
    this.log.warn({ failures: this.unlockFailures, delayMs: delay }, 'wrong passphrase for unlock');
    if (delay > 0) await sleep(delay);
    return FAILURE;
  }

  /** draft-miller-ssh-agent §3.8 */
  private async extension(req: Extract<Request, { type: 'extension' }>, ctx: RequestContext): Promise<Response> {
    const ext = req.extension;
    switch (ext.kind) {
      case 'query':
        return queryResponse([...SUPPORTED_EXTENSIONS, ...this.extensions.keys()]);
      case 'session-bind': {
        const bindings = bindSession(this.sessions.get(ctx.conn) ?? [], ext);
        this.sessions.set(ctx.conn, bindings);
        const last = bindings[bindings.length - 1];
        this.log.debug(
          { conn: ctx.conn.id, hostKey: last?.hostKeyFingerprint, forwarding: last?.forwarding, bindings: bindings.length },
          'session bound',
        );
        return SUCCESS;
      }
      case 'other': {
        const handler = this.extensions.get(ext.name);
        if (handler !== undefined) return handler(ext.contents, ctx);
        // draft-miller-ssh-agent §3.8: an agent that does not support an extension MUST reply
        // with an empty SSH_AGENT_FAILURE (EXTENSION_FAILURE is for a supported one that failed);
        // OpenSSH's process_extension does the same.
        this.log.debug({ conn: ctx.conn.id, extension: ext.name }, 'unsupported extension');
        return FAILURE;
      }
    }
  }

  private logFailure(conn: ConnectionContext, req: string, err: unknown): void {
    const code = err instanceof AgentError ? err.code : 'E_INTERNAL';
    const message = err instanceof Error ? err.message : String(err);
    const level = err instanceof AgentError ? 'info' : 'error';
    this.log[level]({ conn: conn.id, req, code }, `request failed: ${message}`);
  }
}

function wipeSecrets(req: Request): void {
  switch (req.type) {
    case 'lock':
    case 'unlock':
      req.passphrase.wipe();
      break;
    default:
  }
}
