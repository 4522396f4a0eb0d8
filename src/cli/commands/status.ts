import { existsSync } from 'node:fs';
import { ConfigError } from '../../errors.js';
import type { SimAlgorithm } from '../../simulator/card-keys.js';
import { createKeySource, simulatorStatePath } from '../../agent/key-source.js';
import { decodeStatusResponse, STATUS_EXTENSION, type CardReport, type SessionReport, type StatusReport } from '../../agent/status-report.js';
import { getLogger } from '../../log.js';
import { decodeQueryReply } from '../../protocol/extension.js';
import { blockedMessage } from '../../pins/policy.js';
import { askAgent } from '../agent-query.js';
import { defaultListenAddress } from '../default-socket.js';

export interface StatusOptions {
  readonly env: NodeJS.ProcessEnv;
  readonly stdout: (text: string) => Promise<void>;
  readonly json: boolean;
  readonly simulate?: { readonly algorithm: SimAlgorithm; readonly statePath?: string | undefined } | undefined;
  /** --no-agent: read the cards directly even when an agent answers. */
  readonly agent?: boolean;
}

/** What `status --json` prints. */
export interface StatusOutput {
  /** "agent": the running agent answered (pid, its PINs in memory, bound sessions); "cards": read directly. */
  readonly source: 'agent' | 'cards';
  readonly agent?: StatusReport['agent'] & { readonly socket: string };
  readonly cards: readonly CardReport[];
  readonly sessions?: readonly SessionReport[];
}

/**
 * `openpgp-card-agent status`: asks the running agent (SSH_AUTH_SOCK, else the default socket)
 * through its status extension, since only it knows the PINs it holds in memory, those it knows
 * to be bad, whether a card is verified now and which sessions are bound. Without an agent it
 * reads every card itself (PC/SC in shared mode) and the keychain. Either way no PIN try is
 * spent: retry counters are read with GET DATA, never with VERIFY.
 */
export async function runStatus(opts: StatusOptions): Promise<number> {
  const fromAgent = opts.simulate === undefined && opts.agent !== false ? await askRunningAgent(opts.env) : undefined;
  const out: StatusOutput = fromAgent ?? { source: 'cards', cards: await readCards(opts) };
  if (opts.json) {
    await opts.stdout(`${JSON.stringify(out, null, 2)}\n`);
    return 0;
  }
  const lines: string[] = [];
  if (out.agent !== undefined) {
    lines.push(`Agent ${out.agent.version}, pid ${out.agent.pid}, on ${out.agent.socket}; cards lock ${out.agent.cardIdleLockSeconds} s after their last use`, '');
  }
  if (out.cards.length === 0) lines.push(`No OpenPGP cards found${opts.simulate === undefined ? ' over PC/SC' : ''}.`);
  for (const r of out.cards) lines.push(...cardLines(r), '');
  if (out.sessions !== undefined && out.sessions.length > 0) {
    lines.push('Bound sessions (session-bind):');
    for (const s of out.sessions) lines.push(`  connection ${s.conn}: ${s.hosts.join(' -> ')}${s.forwarded ? ' (forwarded)' : ''}${s.peer === null ? '' : `, from ${s.peer}`}`);
  }
  await opts.stdout(`${lines.join('\n').replace(/\n+$/, '')}\n`);
  return 0;
}

function cardLines(r: CardReport): string[] {
  const lines = [
    `${r.ident} (${r.reader})`,
    `  key:          ${r.algorithm}${r.usable ? '' : `  (not usable for SSH: ${r.problem})`}`,
    `  fingerprint:  ${r.fingerprint ?? '-'}`,
    `  PIN:          ${describePin(r)}`,
  ];
  if (r.blocked) lines.push(`  PIN retries:  0, BLOCKED: ${blockedMessage(r.ident).replace(/^the PIN of card \S+ is blocked\. /, '')}`);
  else lines.push(`  PIN retries:  ${r.pinRetries ?? 'unknown (the card did not answer)'}`);
  if (r.verified !== undefined) lines.push(`  card:         ${r.verified === 'verified' ? 'PIN verified now (until the idle lock)' : 'locked (needs its PIN for the next signature)'}`);
  if (r.confirm === true) lines.push('  confirm:      every signature is confirmed (ssh-add -c)');
  lines.push(`  signatures:   ${r.signatureCounter ?? '-'} (OpenPGP signature counter)`, `  touch:        ${r.touch}`);
  return lines;
}

function describePin(r: CardReport): string {
  const p = r.pin;
  if (p.knownBad) return `rejected by the card; not sent again: run  ssh-add -s ${r.ident}`;
  const base =
    p.location === 'memory'
      ? `in memory${p.secondsLeft === undefined ? '' : ` for ${Math.round(p.secondsLeft)} s more`} (ssh-add -t)`
      : p.location === 'memory-until-exit'
        ? 'in memory until the agent stops (no keychain, or not to be stored)'
        : p.location === 'keychain'
          ? 'in the keychain'
          : p.location === 'config'
            ? "in openpgp-card-state's config file (Direct)"
            : p.location === 'kernel-keyring'
              ? 'in the kernel keyring (Ephemeral)'
              : 'not stored';
  const notes = [p.staleKeychainCopy === undefined ? undefined : `a keychain copy could not be deleted and is not read: ${p.staleKeychainCopy}`, p.storeError === undefined ? undefined : `the keychain could not be asked: ${p.storeError}`].filter(
    (n) => n !== undefined,
  );
  return notes.length === 0 ? base : `${base}; ${notes.join('; ')}`;
}

/** The running agent's report, when one answers and knows the status extension. */
async function askRunningAgent(env: NodeJS.ProcessEnv): Promise<StatusOutput | undefined> {
  const candidates = [env['SSH_AUTH_SOCK'], defaultSocket(env)].filter((s): s is string => s !== undefined && s !== '');
  for (const socket of [...new Set(candidates)]) {
    try {
      const q = await askAgent(socket, { type: 'extension', extension: { kind: 'query' } }, 3000);
      if (q.kind !== 'reply' || !decodeQueryReply(q.response).includes(STATUS_EXTENSION)) continue;
      const a = await askAgent(socket, { type: 'extension', extension: { kind: 'other', name: STATUS_EXTENSION, contents: new Uint8Array(0) } }, 30_000);
      if (a.kind !== 'reply') continue;
      const report = decodeStatusResponse(a.response);
      return { source: 'agent', agent: { ...report.agent, socket }, cards: report.cards, sessions: report.sessions };
    } catch {
      // Not an agent of ours, or not running: try the next, then read the cards directly.
    }
  }
  return undefined;
}

function defaultSocket(env: NodeJS.ProcessEnv): string | undefined {
  try {
    const a = defaultListenAddress(env);
    return a.kind === 'fd' ? undefined : a.path;
  } catch {
    return undefined;
  }
}

async function readCards(opts: StatusOptions): Promise<CardReport[]> {
  if (opts.simulate !== undefined) {
    // status only looks: it never creates the virtual card (nor its directory).
    const path = opts.simulate.statePath ?? simulatorStatePath(opts.env, opts.simulate.algorithm);
    if (!existsSync(path)) throw new ConfigError(`no virtual card at ${path}: \`openpgp-card-agent --simulate\` creates it on its first start`);
  }
  const source = await createKeySource({ env: opts.env, log: getLogger('cli'), simulate: opts.simulate === undefined ? undefined : { ...opts.simulate, presetPin: false }, notify: false, readOnly: true });
  try {
    await source.start();
    // Read directly, the card's "verified now" is not known (another process holds its state).
    return (await source.provider.cardReports()).map(({ verified: _v, confirm: _c, ...rest }) => rest);
  } finally {
    await source.close();
  }
}
