import { setTimeout as sleep } from 'node:timers/promises';
import { AgentError } from '../errors.js';
import { getLogger, type Logger } from '../log.js';
import { ExtensionName } from '../protocol/codes.js';
import { queryResponse } from '../protocol/extension.js';
import type { Request, RequestType, Response } from '../protocol/messages.js';
import { decodeRequest } from '../protocol/request.js';
import { encodeResponse } from '../protocol/response.js';
import { describePeer, type ConnectionContext, type FrameHandler } from '../server/frame-handler.js';
import type { HostNamer } from '../ssh/known-hosts.js';
import { equalBytes } from '../wire/bytes.js';
import {
  ConstraintError,
  RESTRICT_DESTINATION,
  checkSignRequest,
  describeConstraints,
  identityPermitted,
  parseDestinationConstraints,
  parseUserauthRequest,
  type BindingState,
  type DestinationConstraint,
} from './destination-constraints.js';
import { ForwardingPolicy, normalizeIdent } from './forwarding-policy.js';
import type { Constraint, Identity, KeyProvider, RequestContext, SessionBinding } from './key-provider.js';
import type { CardUsePolicy, ExtensionHandler } from './extension-handler.js';
import type { SessionReport } from './status-report.js';
import { LockHash, unlockFailureDelay } from './lock.js';
import { bindSession, hostLabel } from './session-bind.js';

export interface AgentOptions {
  /** The key source; without one the agent lists no identities and fails card requests. */
  keys?: KeyProvider;
  log?: Logger;
  /** Delay step after a wrong UNLOCK (default 100 ms, as OpenSSH). Tests pass 0. */
  unlockDelayMs?: number;
  /** Private extensions by name (listed by `query`), e.g. the OpenPGP signing ones. */
  extensions?: ReadonlyMap<string, ExtensionHandler>;
  /** Names bound hosts in logs and prompts (known_hosts); without it hosts show as fingerprints. */
  hostNames?: HostNamer;
  /** What to do with forwarded requests (--forwarded, config.toml); default: confirm, for every card. */
  forwarding?: ForwardingPolicy;
  /**
   * Asks the user to allow one use (SSH_ASKPASS), for forwarded requests under `confirm`.
   * Without it such requests are refused.
   */
  confirm?: (message: string) => Promise<boolean>;
  /** The clock for certificate validity, in seconds (tests pin it). */
  nowSeconds?: () => bigint;
}

/** ssh-agent.c's SocketEntry view of one connection's session bindings. */
interface ConnState extends BindingState {
  bindings: SessionBinding[];
  bindAttempted: boolean;
}

/** Constraints that go on to the provider; the agent enforces the rest itself. */
interface CheckedConstraints {
  readonly forProvider: Constraint[];
  readonly destinations: DestinationConstraint[] | undefined;
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
  private readonly conns = new WeakMap<ConnectionContext, ConnState>();
  /** Connections that bound themselves to a host, for `status` (the WeakMap cannot be listed). */
  private readonly bound = new Set<ConnectionContext>();
  /** Destination constraints (ssh-add -h) per normalised card ident. */
  private readonly destinations = new Map<string, DestinationConstraint[]>();
  private readonly hostNames: HostNamer | undefined;
  private readonly forwarding: ForwardingPolicy;
  private readonly confirm: ((message: string) => Promise<boolean>) | undefined;
  private readonly nowSeconds: () => bigint;
  private readonly handlers: HandlerTable;
  private readonly extensions: ReadonlyMap<string, ExtensionHandler>;

  constructor(options: AgentOptions = {}) {
    this.keys = options.keys;
    this.extensions = options.extensions ?? new Map();
    this.log = options.log ?? getLogger('agent');
    this.unlockDelayMs = options.unlockDelayMs ?? 100;
    this.hostNames = options.hostNames;
    this.forwarding = options.forwarding ?? new ForwardingPolicy();
    this.confirm = options.confirm;
    this.nowSeconds = options.nowSeconds ?? (() => BigInt(Math.floor(Date.now() / 1000)));
    this.handlers = {
      'request-identities': (_req, ctx) => this.listIdentities(ctx),
      'sign-request': (req, ctx) => this.signRequest(req, ctx),
      'add-identity': () => this.addIdentity(),
      'add-id-constrained': () => this.addIdentity(),
      'add-smartcard-key': (req, ctx) => this.addSmartcardKey(req.readerId, req.pin, [], ctx),
      'add-smartcard-key-constrained': (req, ctx) => this.addSmartcardKey(req.readerId, req.pin, req.constraints, ctx),
      'remove-smartcard-key': (req, ctx) => this.removeSmartcardKey(req, ctx),
      'remove-all-identities': (_req, ctx) => this.removeAllIdentities(ctx),
      'remove-identity': (req, ctx) => this.removeIdentity(req.keyBlob, ctx),
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
      // A malformed frame may still hold a PIN or passphrase.
      body.fill(0);
      return FAILURE_BODY;
    }
    this.log.debug({ conn: conn.id, req: req.type, ...(req.type === 'unknown' ? { code: req.code } : {}) }, 'request');
    try {
      return encodeResponse(await this.dispatch(req, conn));
    } catch (err) {
      this.logFailure(conn, req.type, err);
      return FAILURE_BODY;
    } finally {
      if (wipeSecrets(req)) body.fill(0);
    }
  }

  connectionClosed(conn: ConnectionContext): void {
    this.conns.delete(conn);
    this.bound.delete(conn);
  }

  /** The connections bound to hosts now (session-bind), for `status`: hosts by name where known_hosts names them. */
  boundSessions(): SessionReport[] {
    const out: SessionReport[] = [];
    for (const conn of this.bound) {
      const state = this.conns.get(conn);
      if (state === undefined || state.bindings.length === 0) continue;
      out.push({
        conn: conn.id,
        hosts: state.bindings.map(hostLabel),
        forwarded: isForwarded(state),
        peer: describePeer(conn.peer) ?? null,
      });
    }
    return out;
  }

  /** The agent's logger with the connection id bound (the connection's own logger is the server's). */
  private logFor(conn: ConnectionContext): Logger {
    return this.log.child({ conn: conn.id });
  }

  private stateOf(conn: ConnectionContext): ConnState {
    let state = this.conns.get(conn);
    if (state === undefined) {
      state = { bindings: [], bindAttempted: false };
      this.conns.set(conn, state);
    }
    return state;
  }

  private async dispatch(req: Request, conn: ConnectionContext): Promise<Response> {
    const sessions = this.conns.get(conn)?.bindings ?? [];
    const session = sessions[sessions.length - 1];
    const ctx: RequestContext = session === undefined ? { conn, sessions } : { conn, sessions, session };
    // OpenSSH ssh-agent.c process_message: while locked only UNLOCK works, and
    // REQUEST_IDENTITIES answers an empty list. session-bind is still recorded (OpenSSH since
    // 10.x): a forwarding set up while locked must not count as local use after UNLOCK.
    const isBind = req.type === 'extension' && req.extension.kind === 'session-bind';
    if (this.lock !== null && req.type !== 'unlock' && !isBind) {
      if (req.type === 'request-identities') return { type: 'identities-answer', identities: [] };
      this.log.debug({ conn: conn.id, req: req.type }, 'agent is locked');
      return FAILURE;
    }
    const handler = this.handlers[req.type] as Handler<typeof req.type> | undefined;
    if (handler === undefined) {
      if (req.type === 'unknown') {
        this.log.debug({ conn: conn.id, code: req.code }, 'unknown message type');
      }
      return FAILURE;
    }
    return handler(req as never, ctx);
  }

  /** draft-miller-ssh-agent §3.5. Asked of the provider each time, so card changes show at once. */
  private async listIdentities(ctx: RequestContext): Promise<Response> {
    if (this.keys === undefined) return { type: 'identities-answer', identities: [] };
    const state = this.stateOf(ctx.conn);
    const all = await this.keys.listIdentities(ctx);
    const identities = all.filter((id) => this.visible(id.ident, state, ctx));
    if (identities.length !== all.length) {
      this.logFor(ctx.conn).debug({ listed: identities.length, held: all.length }, 'some card keys are not offered on this connection');
    }
    return { type: 'identities-answer', identities: identities.map((id) => ({ keyBlob: id.keyBlob, comment: id.comment })) };
  }

  /**
   * ssh-agent.c process_request_identities: keys whose constraints do not permit this connection
   * are hidden; so are denied forwarded ones. By card ident, so that the OpenPGP keys of a card
   * are shown where its SSH key is.
   */
  private visible(ident: string | undefined, state: ConnState, ctx: RequestContext): boolean {
    const constraints = this.constraintsFor(ident);
    if (constraints !== undefined) {
      const permitted = identityPermitted(constraints, state, null, this.nowSeconds());
      if (!permitted.ok) {
        this.logFor(ctx.conn).debug({ ident, path: this.describePath(state), reason: permitted.reason }, 'destination-constrained key hidden');
        return false;
      }
    }
    if (isForwarded(state) && this.forwarding.policyFor(ident) === 'deny') {
      this.logFor(ctx.conn).debug({ ident, path: this.describePath(state) }, 'key hidden from a forwarded connection (forwarded = deny)');
      return false;
    }
    return true;
  }

  private constraintsFor(ident: string | undefined): DestinationConstraint[] | undefined {
    return ident === undefined ? undefined : this.destinations.get(normalizeIdent(ident));
  }

  private async signRequest(req: Extract<Request, { type: 'sign-request' }>, ctx: RequestContext): Promise<Response> {
    if (this.keys === undefined) return FAILURE;
    // The policy is per card, so find the card first (from what the provider holds: no APDU).
    const id = this.keys.identityFor !== undefined ? this.keys.identityFor(req.keyBlob) : (await this.keys.listIdentities(ctx)).find((i) => equalBytes(i.keyBlob, req.keyBlob));
    if (id === undefined) {
      this.log.info({ conn: ctx.conn.id }, 'sign request for a key this agent does not hold');
      return FAILURE;
    }
    const state = this.stateOf(ctx.conn);
    const constraints = this.constraintsFor(id.ident);
    let user: string | null = null;
    if (constraints !== undefined) {
      const check = checkSignRequest(constraints, state, req.keyBlob, req.data, this.nowSeconds());
      if (!check.ok) {
        this.logFor(ctx.conn).info({ ident: id.ident, path: this.describePath(state), peer: describePeer(ctx.conn.peer) }, `signature refused: ${check.reason}`);
        return FAILURE;
      }
      user = check.user;
    }
    if (isForwarded(state)) {
      const path = this.describePath(state);
      const peer = describePeer(ctx.conn.peer);
      const as = user ?? forwardedUser(req.data, req.keyBlob);
      const lines = (): string[] => [
        `Allow card key ${id.ident ?? id.comment} to sign a forwarded request?`,
        `Path: ${path}${as === null ? '' : ` (as user "${fromLatin1(as)}")`}`,
        ...(peer === undefined ? [] : [`Forwarded by: ${peer}`]),
      ];
      // Keys added with ssh-add -h rules that allowed this very path were decided on by the user.
      if (!(await this.forwardedAllowed(id.ident, { ident: id.ident, path, peer }, lines, constraints === undefined, ctx))) return FAILURE;
    }
    const signature = await this.keys.sign(req.keyBlob, req.data, req.flags, ctx);
    if (signature === null) {
      this.log.info({ conn: ctx.conn.id }, 'sign request for a key this agent does not hold');
      return FAILURE;
    }
    return { type: 'sign-response', signature };
  }

  /**
   * --forwarded for a request that came through agent forwarding: deny refuses; confirm asks the
   * user with `lines` (when `ask`; no way to ask refuses); allow passes. Refusals are logged with `fields`.
   */
  private async forwardedAllowed(ident: string | undefined, fields: Record<string, unknown>, lines: () => string[], ask: boolean, ctx: RequestContext): Promise<boolean> {
    const log = this.logFor(ctx.conn);
    const policy = this.forwarding.policyFor(ident);
    if (policy === 'deny') {
      log.info(fields, 'forwarded signature request refused (forwarded = deny)');
      return false;
    }
    if (policy === 'allow' || !ask) return true;
    if (this.confirm === undefined) {
      log.warn(fields, 'forwarded request needs confirmation, but there is no way to ask (set SSH_ASKPASS, or --forwarded allow)');
      return false;
    }
    const allowed = await this.confirm(lines().join('\n'));
    if (!allowed) log.info(fields, 'forwarded signature request not confirmed by the user');
    return allowed;
  }

  /** The rules of request-identities and sign-request, for extensions that use card keys (the OpenPGP ones). */
  private cardUsePolicy(ctx: RequestContext): CardUsePolicy {
    const state = this.stateOf(ctx.conn);
    return {
      mayList: (ident) => this.visible(ident, state, ctx),
      maySign: (ident, purpose) => this.mayMakeOtherSignature(ident, purpose, state, ctx),
    };
  }

  /**
   * A signature by card `ident` over data that is not an SSH userauth request (an OpenPGP
   * signature for git). ssh-add -h: ssh-agent.c process_sign_request2 lets a
   * destination-constrained key sign only a userauth request for the latest bound host, so on a
   * bound connection (or one whose bind failed) such a key signs nothing else. Unlike
   * ssh-agent.c, which refuses every signature by such a key on an unbound connection too, a
   * connection that never bound (git on this computer) may have OpenPGP signatures made, else a
   * card restricted with ssh-add -h could not sign commits at all (README, "Forwarding safely").
   * Then the --forwarded policy, as for a sign request; there is no userauth request whose path
   * ssh-add -h rules could have allowed, so `confirm` always asks.
   */
  private async mayMakeOtherSignature(ident: string, purpose: string, state: ConnState, ctx: RequestContext): Promise<boolean> {
    const log = this.logFor(ctx.conn);
    const path = this.describePath(state);
    const fields = { ident, purpose, path, peer: describePeer(ctx.conn.peer) };
    if (this.constraintsFor(ident) !== undefined && (state.bindAttempted || state.bindings.length > 0)) {
      log.info(fields, 'signature refused: a card key restricted with ssh-add -h signs other data than SSH logins only for programs on this computer (unbound connections)');
      return false;
    }
    if (!isForwarded(state)) return true;
    const lines = (): string[] => {
      const last = state.bindings[state.bindings.length - 1];
      const host = last === undefined ? 'a host whose session-bind failed' : hostLabel(last);
      return [
        `Allow card ${ident} to sign ${signedThing(purpose)} for ${host}?`,
        `Path: ${path}`,
        ...(fields.peer === undefined ? [] : [`Forwarded by: ${fields.peer}`]),
        'What is signed is as the request states it: the agent sees only a digest.',
      ];
    };
    return this.forwardedAllowed(ident, fields, lines, true, ctx);
  }

  /** "this computer → build-box → github.com" from a connection's bindings, hosts named from known_hosts. */
  private describePath(state: ConnState): string {
    const hops = ['this computer', ...state.bindings.map(hostLabel)];
    if (state.bindAttempted && state.bindings.length === 0) hops.push('(a host whose session-bind failed)');
    return hops.join(' → ');
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
    // Everything is checked before the provider runs: a refused constraint sends no PIN to a card.
    let checked: CheckedConstraints;
    try {
      checked = checkConstraints(constraints);
    } catch (err) {
      if (!(err instanceof ConstraintError)) throw err;
      this.logFor(ctx.conn).warn({ reader: readerId }, `ssh-add refused: ${err.message}`);
      return FAILURE;
    }
    // ssh-agent.c process_add_smartcard_key: no provider adds over a forwarded connection (its
    // remote_add_provider is off by default). Here it would also let a remote host spend the
    // card's PIN tries.
    const state = this.stateOf(ctx.conn);
    if (state.bindAttempted || state.bindings.length > 0) {
      this.logFor(ctx.conn).warn({ reader: readerId, path: this.describePath(state) }, 'ssh-add -s refused: cards are added from this computer, not over a forwarded connection');
      return FAILURE;
    }
    const before = await this.identityFor(readerId, ctx);
    if (checked.destinations !== undefined && before?.ident === undefined) {
      this.logFor(ctx.conn).warn({ reader: readerId }, 'ssh-add -h refused: the card must be plugged in so that its key can be restricted');
      return FAILURE;
    }
    await this.keys.addSmartcardKey(readerId, pin, checked.forProvider, ctx);
    const ident = normalizeIdent(before?.ident ?? readerId);
    if (checked.destinations === undefined) {
      if (this.destinations.delete(ident)) this.logFor(ctx.conn).info({ ident }, 'destination constraints cleared');
    } else {
      this.destinations.set(ident, checked.destinations);
      this.logFor(ctx.conn).info({ ident, destinations: describeConstraints(checked.destinations).map(fromLatin1) }, 'card key restricted to destinations (ssh-add -h)');
    }
    return SUCCESS;
  }

  /** The listed identity of the card `readerId` names. */
  private async identityFor(readerId: string, ctx: RequestContext): Promise<Identity | undefined> {
    const want = normalizeIdent(readerId);
    const ids = (await this.keys?.listIdentities(ctx)) ?? [];
    return ids.find((i) => i.ident !== undefined && normalizeIdent(i.ident) === want);
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
    const ident = normalizeIdent((await this.identityFor(req.readerId, ctx))?.ident ?? req.readerId);
    if (this.destinations.delete(ident)) this.logFor(ctx.conn).info({ ident }, 'destination constraints cleared');
    return SUCCESS;
  }

  /**
   * draft-miller-ssh-agent §3.4 (ssh-add -d): a card key stays on its card and in the list; the
   * card forgets that its PIN was verified (the stored PIN stays: ssh-add -e forgets it).
   */
  private async removeIdentity(keyBlob: Uint8Array, ctx: RequestContext): Promise<Response> {
    if (this.keys?.removeIdentity === undefined || !(await this.keys.removeIdentity(keyBlob, ctx))) {
      this.log.info({ conn: ctx.conn.id }, 'ssh-add -d of a key this agent does not hold');
      return FAILURE;
    }
    return SUCCESS;
  }

  /** draft-miller-ssh-agent §3.4 */
  private async removeAllIdentities(ctx: RequestContext): Promise<Response> {
    if (this.keys?.removeAllIdentities === undefined) {
      this.log.info({ conn: ctx.conn.id }, 'card keys are removed with ssh-add -e READER');
      return FAILURE;
    }
    await this.keys.removeAllIdentities(ctx);
    if (this.destinations.size > 0) this.logFor(ctx.conn).info({ idents: [...this.destinations.keys()] }, 'destination constraints cleared');
    this.destinations.clear();
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
        const state = this.stateOf(ctx.conn);
        state.bindAttempted = true;
        this.bound.add(ctx.conn);
        const bindings = bindSession(state.bindings, ext);
        const last = bindings[bindings.length - 1];
        if (last !== undefined && bindings.length > state.bindings.length) await this.nameHost(last, ctx);
        state.bindings = bindings;
        this.log.debug(
          {
            conn: ctx.conn.id,
            host: last === undefined ? undefined : hostLabel(last),
            hostKey: last?.hostKeyFingerprint,
            forwarding: last?.forwarding,
            bindings: bindings.length,
          },
          'session bound',
        );
        return SUCCESS;
      }
      case 'other': {
        const handler = this.extensions.get(ext.name);
        if (handler !== undefined) return handler(ext.contents, ctx, this.cardUsePolicy(ctx));
        // draft-miller-ssh-agent §3.8: an agent that does not support an extension MUST reply
        // with an empty SSH_AGENT_FAILURE (EXTENSION_FAILURE is for a supported one that failed);
        // OpenSSH's process_extension does the same.
        this.log.debug({ conn: ctx.conn.id, extension: ext.name }, 'unsupported extension');
        return FAILURE;
      }
    }
  }

  /** Looks the bound host key up in known_hosts; the names in ssh-add -h rules help with hashed lines. */
  private async nameHost(binding: SessionBinding, ctx: RequestContext): Promise<void> {
    if (this.hostNames === undefined) return;
    const candidates = new Set<string>();
    for (const constraints of this.destinations.values()) {
      for (const c of constraints) {
        if (c.from.hostname !== null) candidates.add(fromLatin1(c.from.hostname));
        if (c.to.hostname !== null) candidates.add(fromLatin1(c.to.hostname));
      }
    }
    try {
      const found = await this.hostNames.nameFor(binding.hostKey, [...candidates]);
      if (found.revoked) this.logFor(ctx.conn).warn({ hostKey: binding.hostKeyFingerprint }, 'bound host key is marked @revoked in known_hosts');
      if (found.name !== undefined) binding.hostName = found.name;
    } catch (err) {
      this.logFor(ctx.conn).debug({ err: (err as Error).message }, 'known_hosts lookup failed; showing the fingerprint');
    }
  }

  private logFailure(conn: ConnectionContext, req: string, err: unknown): void {
    const code = err instanceof AgentError ? err.code : 'E_INTERNAL';
    const message = err instanceof Error ? err.message : String(err);
    const level = err instanceof AgentError ? 'info' : 'error';
    this.log[level]({ conn: conn.id, req, code }, `request failed: ${message}`);
  }
}

/**
 * A connection reached through agent forwarding: one of its bindings is a forwarding (ssh binds
 * the forwarded hop first, then the remote ssh binds the host it authenticates to), or a bind
 * was tried and failed, so where it comes from is unknown.
 */
function isForwarded(state: ConnState): boolean {
  return state.bindings.some((b) => b.forwarding) || (state.bindAttempted && state.bindings.length === 0);
}

/** "a git commit", "an object", "data": the purpose a request states, for a prompt. */
function signedThing(purpose: string): string {
  if (purpose === '' || purpose === 'data') return 'data';
  return /^[aeiou]/i.test(purpose) ? `an ${purpose}` : `a ${purpose}`;
}

function fromLatin1(s: string): string {
  return Buffer.from(s, 'latin1').toString('utf8');
}

/** The target user of a userauth request, for the prompt (null when the data is not one). */
function forwardedUser(data: Uint8Array, keyBlob: Uint8Array): string | null {
  return parseUserauthRequest(data, keyBlob)?.user ?? null;
}

/**
 * Checks the constraints of an ADD_SMARTCARD_KEY_CONSTRAINED as ssh-agent.c's
 * parse_key_constraints does for a PKCS#11 add: each at most once; lifetime and confirm go on to
 * the provider; restrict-destination is parsed and kept by the agent; everything else is refused.
 */
export function checkConstraints(constraints: readonly Constraint[]): CheckedConstraints {
  const forProvider: Constraint[] = [];
  let destinations: DestinationConstraint[] | undefined;
  let lifetime = false;
  let confirm = false;
  for (const c of constraints) {
    switch (c.kind) {
      case 'lifetime':
        if (lifetime) throw new ConstraintError('lifetime already set');
        lifetime = true;
        forProvider.push(c);
        break;
      case 'confirm':
        if (confirm) throw new ConstraintError('confirm already set');
        confirm = true;
        forProvider.push(c);
        break;
      case 'maxsign':
        // OpenSSH counts signatures only for XMSS keys and refuses maxsign on a smartcard add
        // ("maxsign not valid here"); 10.x no longer knows the constraint at all.
        throw new ConstraintError('constraint maxsign (SSH_AGENT_CONSTRAIN_MAXSIGN) is not valid for card keys');
      case 'extension':
        if (c.name === RESTRICT_DESTINATION) {
          if (destinations !== undefined) throw new ConstraintError(`${RESTRICT_DESTINATION} already set`);
          const parsed = parseRestrictDestination(c.contents);
          // An empty list restricts nothing, as in ssh-agent.c (ndest_constraints == 0).
          destinations = parsed.length === 0 ? undefined : parsed;
        } else if (c.name === 'sk-provider@openssh.com') {
          throw new ConstraintError('constraint extension sk-provider@openssh.com is not valid for card keys');
        } else if (c.name === 'associated-certs-v00@openssh.com') {
          throw new ConstraintError('constraint extension associated-certs-v00@openssh.com (certificates for card keys) is not supported');
        } else {
          throw new ConstraintError(`unsupported constraint extension "${c.name}"`);
        }
        break;
    }
  }
  return { forProvider, destinations };
}

function parseRestrictDestination(contents: Uint8Array): DestinationConstraint[] {
  try {
    return parseDestinationConstraints(contents);
  } catch (err) {
    if (err instanceof ConstraintError) throw new ConstraintError(`${RESTRICT_DESTINATION}: ${err.message}`);
    if (err instanceof AgentError) throw new ConstraintError(`malformed ${RESTRICT_DESTINATION}: ${err.message}`);
    throw err;
  }
}

/** The request owns its Secrets (src/secret.ts): wiped after use. True when it carried one. */
function wipeSecrets(req: Request): boolean {
  switch (req.type) {
    case 'lock':
    case 'unlock':
      req.passphrase.wipe();
      return true;
    case 'add-smartcard-key':
    case 'add-smartcard-key-constrained':
    case 'remove-smartcard-key':
      req.pin.wipe();
      return true;
    default:
      return false;
  }
}
