import { Reader } from '../wire/reader.js';
import { Writer } from '../wire/writer.js';
import { WireFormatError } from '../errors.js';
import type { PinStatus } from '../pins/pin-registry.js';
import type { Response } from '../protocol/messages.js';
import type { ExtensionHandler } from './extension-handler.js';

/**
 * `openpgp-card-agent status` asks the running agent first, through this private extension
 * (draft-miller-ssh-agent §3.8): only the agent knows which PINs it holds in memory, which it
 * knows to be bad, whether a card is verified now, and which sessions are bound. The answer is
 * one SSH string of JSON (a report for people and scripts, not a protocol to build on).
 */
export const STATUS_EXTENSION = 'status-v00@openpgp-card-agent.invalid';

/** One card, as the agent (or `status` reading the cards itself) sees it. No PIN in it. */
export interface CardReport {
  readonly ident: string;
  readonly reader: string;
  /** "EdDSA ed25519", "RSA 2048", ... of the authentication key. */
  readonly algorithm: string;
  /** SHA256 fingerprint of the SSH key, when usable. */
  readonly fingerprint: string | null;
  readonly usable: boolean;
  readonly problem: string | null;
  /** Where the PIN is (memory, keychain, config, ...), and what the agent knows about it. */
  readonly pin: PinStatus & { readonly knownBad: boolean };
  /** PW1's retry counter, read with GET DATA (no try spent); null when the card did not answer. */
  readonly pinRetries: number | null;
  readonly blocked: boolean;
  /** The OpenPGP signature counter (DO 93), null when the card has none. */
  readonly signatureCounter: number | null;
  /** Touch policy of the authentication key. */
  readonly touch: string;
  /** Only from the agent: whether the card holds a verified PIN now (it locks after the idle time). */
  readonly verified?: 'verified' | 'not-verified' | 'unknown';
  /** Only from the agent: signatures need a confirmation (ssh-add -c). */
  readonly confirm?: boolean;
}

/** A connection that bound itself to a host (session-bind@openssh.com). */
export interface SessionReport {
  readonly conn: number;
  /** The hosts, oldest first: for a forwarded connection, the chain of hops. */
  readonly hosts: readonly string[];
  readonly forwarded: boolean;
  /** The connecting program, as the kernel names it ("ssh (pid 1234)"). */
  readonly peer: string | null;
}

export interface StatusReport {
  readonly agent: { readonly pid: number; readonly version: string; readonly cardIdleLockSeconds: number };
  readonly cards: readonly CardReport[];
  readonly sessions: readonly SessionReport[];
}

export function statusResponse(report: StatusReport): Response {
  const w = new Writer();
  w.string(JSON.stringify(report));
  return { type: 'extension-response', name: STATUS_EXTENSION, contents: w.toBytes() };
}

export function decodeStatusResponse(resp: Response): StatusReport {
  if (resp.type !== 'extension-response' || resp.name !== STATUS_EXTENSION) throw new WireFormatError(`${resp.type} is not a status report`, 0);
  const r = new Reader(resp.contents);
  const json = r.string();
  r.end('status report');
  const parsed = JSON.parse(json) as StatusReport;
  if (typeof parsed !== 'object' || parsed === null || !Array.isArray(parsed.cards) || !Array.isArray(parsed.sessions)) {
    throw new WireFormatError('status report without cards and sessions', 0);
  }
  return parsed;
}

/**
 * The handler of STATUS_EXTENSION, for AgentOptions.extensions. Only for this machine: through
 * agent forwarding it answers nothing (the bound hosts and the PIN whereabouts are not the remote
 * side's business), and it shows only the cards the connection may list.
 */
export function statusExtension(source: { cardReports(): Promise<CardReport[]> }, agent: StatusReport['agent'], sessions: () => SessionReport[]): ExtensionHandler {
  return async (_contents, ctx, policy) => {
    if (ctx.sessions.some((s) => s.forwarding)) return { type: 'failure' };
    const cards = (await source.cardReports()).filter((c) => policy.mayList(c.ident));
    return statusResponse({ agent, cards, sessions: sessions() });
  };
}
