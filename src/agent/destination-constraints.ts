import { AgentError, UnsupportedError, WireFormatError } from '../errors.js';
import { checkHostCertificate, isCertificateBlob, parseCertificate, readCString, type SshCertificate } from '../ssh/certificate.js';
import { matchPattern } from '../ssh/match-pattern.js';
import { canonicalPlainKey, encodePublicKey, parsePublicKey, sameKey } from '../ssh/public-key.js';
import { Reader } from '../wire/reader.js';
import { equalBytes } from '../wire/bytes.js';
import type { SessionBinding } from './key-provider.js';

/**
 * `restrict-destination-v00@openssh.com` (OpenSSH PROTOCOL.agent §2, `ssh-add -h`): where a key
 * may be used. Parsing and checks follow OpenSSH ssh-agent.c (parse_dest_constraint,
 * match_key_hop, permitted_by_dest_constraints, identity_permitted, parse_userauth_request and
 * the checks of process_sign_request2) function by function; the names below are theirs.
 */
export const RESTRICT_DESTINATION = 'restrict-destination-v00@openssh.com';

/** ssh-agent.c AGENT_MAX_DEST_CONSTRAINTS and AGENT_USER_CONSTRAINT_MAX_LEN. */
export const MAX_DEST_CONSTRAINTS = 1024;
export const MAX_USER_PATTERN_LENGTH = 256;

/** A refused constraint: malformed, inconsistent, or using a feature OpenSSH refuses too. */
export class ConstraintError extends AgentError {
  override readonly code = 'E_CONSTRAINT';
  constructor(message: string, readonly offset?: number) {
    super(offset === undefined ? message : `${message} (at offset ${offset})`);
  }
}

/** One key of a hop: a host key, or (isCa) a certificate authority for host certificates. */
export interface HopKey {
  readonly blob: Uint8Array;
  readonly isCa: boolean;
  /**
   * The key's canonical plain blob (its fields re-encoded, what sameKey compares), read once when
   * the constraint is added; undefined for a certificate or a key type kept opaque.
   */
  readonly canonical: Uint8Array | undefined;
}

/**
 * One end of a constraint. Strings are byte-exact latin1 JS strings (as C compares them); null
 * for an empty field (from-hop of the origin, "any user").
 */
export interface DestinationHop {
  readonly user: string | null;
  readonly hostname: string | null;
  readonly keys: readonly HopKey[];
}

export interface DestinationConstraint {
  readonly from: DestinationHop;
  readonly to: DestinationHop;
}

/**
 * Key types OpenSSH reads in a constraint that we cannot parse field by field; kept as opaque
 * blobs and compared byte for byte (a DSA or security-key host key in known_hosts must not make
 * the whole `ssh-add -h` fail).
 */
const OPAQUE_KEY_TYPES = new Set(['ssh-dss', 'sk-ecdsa-sha2-nistp256@openssh.com', 'sk-ssh-ed25519@openssh.com']);

/** A key read as sshkey_froms would: plain keys and certificates parsed (certificate signature verified). */
type ParsedKey =
  | { readonly kind: 'plain'; readonly canonical: Uint8Array }
  | { readonly kind: 'cert'; readonly blob: Uint8Array; readonly cert: SshCertificate }
  | { readonly kind: 'opaque'; readonly blob: Uint8Array };

/** Parses a key blob; throws WireFormatError/UnsupportedError where OpenSSH's sshkey_froms fails. */
export function parseKeyBlob(blob: Uint8Array): ParsedKey {
  if (isCertificateBlob(blob)) return { kind: 'cert', blob, cert: parseCertificate(blob) };
  const type = new Reader(blob).string();
  if (OPAQUE_KEY_TYPES.has(type)) return { kind: 'opaque', blob };
  return { kind: 'plain', canonical: encodePublicKey(parsePublicKey(blob)) };
}

function tryParseKey(blob: Uint8Array): ParsedKey | null {
  try {
    return parseKeyBlob(blob);
  } catch (err) {
    if (err instanceof WireFormatError || err instanceof UnsupportedError) return null;
    throw err;
  }
}

/** parse_dest_constraint_hop */
function parseHop(b: Reader): DestinationHop {
  const userAt = b.offset;
  const userRaw = readCString(b, 'constraint user');
  const hostnameRaw = readCString(b, 'constraint hostname');
  const extAt = b.offset;
  if (b.bytes().length !== 0) throw new ConstraintError('unsupported extensions in a destination hop', extAt);
  const user = userRaw === '' ? null : userRaw;
  if (user !== null && user.length > MAX_USER_PATTERN_LENGTH) {
    throw new ConstraintError(`user match pattern longer than ${MAX_USER_PATTERN_LENGTH} bytes`, userAt);
  }
  const keys: HopKey[] = [];
  while (b.remaining > 0) {
    const at = b.offset;
    const blob = b.bytes();
    let parsed: ParsedKey;
    try {
      parsed = parseKeyBlob(blob);
    } catch (err) {
      if (err instanceof WireFormatError || err instanceof UnsupportedError) {
        throw new ConstraintError(`unreadable key in a destination hop: ${err.message}`, at);
      }
      throw err;
    }
    const isCa = b.u8() !== 0;
    keys.push({ blob: Uint8Array.from(blob), isCa, canonical: parsed.kind === 'plain' ? parsed.canonical : undefined });
  }
  return { user, hostname: hostnameRaw === '' ? null : hostnameRaw, keys };
}

/** parse_dest_constraint: one constraint from `m` (a string holding from-hop, to-hop, extensions). */
function parseOne(m: Reader): DestinationConstraint {
  const b = m.sub();
  const fromBuf = b.sub();
  const toBuf = b.sub();
  const extAt = b.offset;
  const ext = b.bytes();
  // Like ssh-agent.c, bytes after the extensions string inside one constraint are not looked at.
  const from = parseHop(fromBuf);
  const to = parseHop(toBuf);
  if (ext.length !== 0) throw new ConstraintError('unsupported extensions in a destination constraint', extAt);
  if ((from.hostname === null) !== (from.keys.length === 0) || from.user !== null) {
    throw new ConstraintError('inconsistent "from" specification');
  }
  if (to.hostname === null || to.keys.length === 0) throw new ConstraintError('incomplete "to" specification');
  return { from, to };
}

/**
 * The contents of a restrict-destination-v00@openssh.com constraint extension (the bytes after
 * its name: one string holding the constraints). Refuses what OpenSSH refuses.
 */
export function parseDestinationConstraints(contents: Uint8Array): DestinationConstraint[] {
  const m = new Reader(contents);
  const outer = m.sub();
  m.end('restrict-destination constraint');
  const out: DestinationConstraint[] = [];
  while (outer.remaining > 0) {
    if (out.length >= MAX_DEST_CONSTRAINTS) throw new ConstraintError(`more than ${MAX_DEST_CONSTRAINTS} destination constraints`, outer.offset);
    out.push(parseOne(outer));
  }
  return out;
}

/**
 * A bound host key as match_key_hop reads it: sshkey_froms' answer, with the canonical blobs
 * sameKey would compare (its own, or for a certificate its CA key's).
 */
type BoundKey =
  | { readonly kind: 'unreadable' }
  | { readonly kind: 'key'; readonly blob: Uint8Array; readonly canonical: Uint8Array | undefined }
  | { readonly kind: 'cert'; readonly cert: SshCertificate; readonly caCanonical: Uint8Array | undefined };

function readBoundKey(blob: Uint8Array): BoundKey {
  const parsed = tryParseKey(blob);
  if (parsed === null) return { kind: 'unreadable' };
  switch (parsed.kind) {
    case 'plain':
      return { kind: 'key', blob, canonical: parsed.canonical };
    case 'opaque':
      return { kind: 'key', blob, canonical: undefined };
    case 'cert':
      return { kind: 'cert', cert: parsed.cert, caCanonical: canonicalPlainKey(parsed.cert.signatureKey) };
  }
}

/** A bound host key read at most once for one check, on first use (a check matches it against every rule). */
type LazyBoundKey = () => BoundKey;

function lazyBoundKey(blob: Uint8Array): LazyBoundKey {
  let read: BoundKey | undefined;
  return () => (read ??= readBoundKey(blob));
}

/** sameKey(blob, k.blob), from canonical forms read beforehand. */
function sameAsHopKey(blob: Uint8Array, canonical: Uint8Array | undefined, k: HopKey): boolean {
  if (equalBytes(blob, k.blob)) return true;
  return canonical !== undefined && k.canonical !== undefined && equalBytes(canonical, k.canonical);
}

function matchBoundKeyHop(key: BoundKey, hop: DestinationHop, nowSeconds: bigint): boolean {
  if (key.kind === 'unreadable') return false;
  const hostname = hop.hostname ?? '(ORIGIN)';
  for (const k of hop.keys) {
    if (key.kind === 'key') {
      if (k.isCa || !sameAsHopKey(key.blob, key.canonical, k)) continue;
      return true;
    }
    if (!k.isCa) continue;
    if (!sameAsHopKey(key.cert.signatureKey, key.caCanonical, k)) continue;
    if (checkHostCertificate(key.cert, hostname, nowSeconds) !== null) continue;
    return true;
  }
  return false;
}

/** match_key_hop: does the bound host key `key` match one of the hop's keys (or a CA that certified it for the hop's hostname)? */
export function matchKeyHop(key: Uint8Array, hop: DestinationHop, nowSeconds: bigint): boolean {
  return matchBoundKeyHop(readBoundKey(key), hop, nowSeconds);
}

/**
 * permitted_by_dest_constraints: the first constraint whose from-hop matches `fromKey` (null:
 * the origin, this machine), whose to-hop matches `toKey` (null: any) and whose user pattern
 * matches `user` (null: not checked). Returns its to-hostname ("*" for none), or undefined.
 */
function permittedByDestConstraints(
  fromKey: LazyBoundKey | null,
  toKey: LazyBoundKey | null,
  constraints: readonly DestinationConstraint[],
  user: string | null,
  nowSeconds: bigint,
): { hostname: string | null } | undefined {
  for (const d of constraints) {
    if (fromKey === null) {
      if (d.from.hostname !== null || d.from.keys.length !== 0) continue;
    } else if (!matchBoundKeyHop(fromKey(), d.from, nowSeconds)) continue;
    if (toKey !== null && !matchBoundKeyHop(toKey(), d.to, nowSeconds)) continue;
    if (d.to.user !== null && user !== null && !matchPattern(user, d.to.user)) continue;
    return { hostname: d.to.hostname };
  }
  return undefined;
}

/** What the agent knows about one connection's bindings (ssh-agent.c SocketEntry). */
export interface BindingState {
  readonly bindings: readonly SessionBinding[];
  /** A session-bind was tried on this connection, successful or not. */
  readonly bindAttempted: boolean;
}

export type PermitResult =
  | { readonly ok: true; readonly forwardHostname: string | null; readonly lastHostname: string | null }
  | { readonly ok: false; readonly reason: string };

/**
 * identity_permitted: may a key with these constraints be used (listed when `user` is null,
 * sign for `user` otherwise) on a connection with these bindings? An unconstrained key always;
 * an unbound connection is local use; otherwise every recorded hop must be permitted.
 */
export function identityPermitted(
  constraints: readonly DestinationConstraint[],
  state: BindingState,
  user: string | null,
  nowSeconds: bigint = BigInt(Math.floor(Date.now() / 1000)),
): PermitResult {
  let forwardHostname: string | null = null;
  let lastHostname: string | null = null;
  if (constraints.length === 0) return { ok: true, forwardHostname, lastHostname };
  const ids = state.bindings;
  if (state.bindAttempted && ids.length === 0) return { ok: false, reason: 'previous session bind failed on socket' };
  if (ids.length === 0) return { ok: true, forwardHostname, lastHostname };
  let fromKey: LazyBoundKey | null = null;
  for (let i = 0; i < ids.length; i++) {
    const hks = ids[i]!;
    const toKey = lazyBoundKey(hks.hostKey);
    const last = i === ids.length - 1;
    let testUser: string | null = null;
    if (last) {
      testUser = user;
      if (hks.forwarding && user !== null) return { ok: false, reason: 'tried to sign on forwarding hop' };
    } else if (!hks.forwarding) {
      return { ok: false, reason: 'tried to forward though signing bind' };
    }
    const permitted = permittedByDestConstraints(fromKey, toKey, constraints, testUser, nowSeconds);
    if (permitted === undefined) {
      return { ok: false, reason: `not permitted for hop ${i + 1} of ${ids.length} (host key ${hks.hostKeyFingerprint})` };
    }
    if (last) lastHostname = permitted.hostname;
    else if (i === 0) forwardHostname = permitted.hostname;
    fromKey = toKey;
  }
  // A key allowed *to* the last host but not *beyond* it stays hidden on a forwarding to it
  // (fromKey is now the last hop's host key).
  const last = ids[ids.length - 1]!;
  if (last.forwarding && user === null && permittedByDestConstraints(fromKey, null, constraints, null, nowSeconds) === undefined) {
    return { ok: false, reason: 'key permitted at host but not after' };
  }
  return { ok: true, forwardHostname, lastHostname };
}

/** RFC 4252 §7 / PROTOCOL "publickey-hostbound-v00@openssh.com": what a userauth signature covers. */
export interface UserauthRequest {
  readonly user: string;
  readonly sessionId: Uint8Array;
  /** The server host key, for publickey-hostbound-v00@openssh.com. */
  readonly hostKey: Uint8Array | null;
}

const SSH2_MSG_USERAUTH_REQUEST = 50;

/** sshkey_type_from_name's key family for a public-key algorithm name, or null. */
function keyFamily(name: string): string | null {
  switch (name) {
    case 'ssh-rsa':
    case 'rsa-sha2-256':
    case 'rsa-sha2-512':
      return 'rsa';
    case 'ecdsa-sha2-nistp256':
    case 'ecdsa-sha2-nistp384':
    case 'ecdsa-sha2-nistp521':
      return 'ecdsa';
    case 'ssh-ed25519':
      return 'ed25519';
    case 'ssh-dss':
      return 'dsa';
    default:
      return null;
  }
}

/**
 * parse_userauth_request: `data` must be exactly a public-key userauth request signed with
 * `expectedKey`. Returns its user, session id and (hostbound) host key, or null.
 */
export function parseUserauthRequest(data: Uint8Array, expectedKey: Uint8Array): UserauthRequest | null {
  try {
    const b = new Reader(data);
    const sessionId = b.bytes();
    if (sessionId.length === 0) return null;
    const t = b.u8();
    const user = readCString(b, 'user');
    const service = readCString(b, 'service');
    const method = readCString(b, 'method');
    const sigFollows = b.u8();
    const pkalg = readCString(b, 'algorithm');
    const mkey = b.bytes();
    if (tryParseKey(mkey) === null) return null;
    const expectedType = new Reader(expectedKey).string();
    if (
      t !== SSH2_MSG_USERAUTH_REQUEST ||
      sigFollows !== 1 ||
      service !== 'ssh-connection' ||
      !sameKey(expectedKey, mkey) ||
      keyFamily(pkalg) === null ||
      keyFamily(pkalg) !== keyFamily(expectedType)
    ) {
      return null;
    }
    let hostKey: Uint8Array | null = null;
    if (method === 'publickey-hostbound-v00@openssh.com') {
      hostKey = b.bytes();
      if (tryParseKey(hostKey) === null) return null;
    } else if (method !== 'publickey') {
      return null;
    }
    if (b.remaining !== 0) return null;
    return { user, sessionId, hostKey };
  } catch (err) {
    if (err instanceof WireFormatError) return null;
    throw err;
  }
}

export type SignCheck =
  | { readonly ok: true; readonly user: string | null; readonly forwardHostname: string | null; readonly lastHostname: string | null }
  | { readonly ok: false; readonly reason: string };

/**
 * The checks process_sign_request2 makes before a destination-constrained key signs: a bound
 * connection, a well-formed userauth request, identity_permitted for its user, the session id
 * of the latest binding, and (when forwarded, or whenever the request names one) the host key
 * of the latest binding.
 */
export function checkSignRequest(
  constraints: readonly DestinationConstraint[],
  state: BindingState,
  keyBlob: Uint8Array,
  data: Uint8Array,
  nowSeconds: bigint = BigInt(Math.floor(Date.now() / 1000)),
): SignCheck {
  if (constraints.length === 0) return { ok: true, user: null, forwardHostname: null, lastHostname: null };
  const ids = state.bindings;
  if (ids.length === 0) return { ok: false, reason: 'refusing use of destination-constrained key to sign on unbound connection' };
  const req = parseUserauthRequest(data, keyBlob);
  if (req === null) return { ok: false, reason: 'refusing use of destination-constrained key to sign an unidentified signature' };
  const permitted = identityPermitted(constraints, state, req.user, nowSeconds);
  if (!permitted.ok) return permitted;
  const last = ids[ids.length - 1]!;
  if (!equalBytes(req.sessionId, last.sessionId)) {
    return { ok: false, reason: `unexpected session ID (${ids.length} listed) on signature request for target user ${req.user}` };
  }
  if (ids.length > 1 && req.hostKey === null) {
    return { ok: false, reason: 'refusing use of destination-constrained key: no hostkey recorded in signature for forwarded connection' };
  }
  if (req.hostKey !== null && !sameKey(req.hostKey, last.hostKey)) {
    return { ok: false, reason: 'refusing use of destination-constrained key: mismatch between hostkey in request and most recently bound session' };
  }
  return { ok: true, user: req.user, forwardHostname: permitted.forwardHostname, lastHostname: permitted.lastHostname };
}

/** "user@host" / "host" / "(ORIGIN)" for logs and prompts (bytes shown as UTF-8). */
export function describeHop(hop: DestinationHop): string {
  const show = (s: string): string => Buffer.from(s, 'latin1').toString('utf8');
  const host = hop.hostname === null ? '(ORIGIN)' : show(hop.hostname);
  return hop.user === null ? host : `${show(hop.user)}@${host}`;
}

/** "origin > host", "a > user@b" for each constraint, as ssh-agent's debug lines. */
export function describeConstraints(constraints: readonly DestinationConstraint[]): string[] {
  return constraints.map((c) => `${describeHop(c.from)} > ${describeHop(c.to)}`);
}
