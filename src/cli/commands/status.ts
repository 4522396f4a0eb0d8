import { existsSync } from 'node:fs';
import { describeAlgorithm } from '../../card/openpgp/public-key.js';
import { AgentError, ConfigError } from '../../errors.js';
import type { SimAlgorithm } from '../../simulator/card-keys.js';
import { createKeySource, simulatorStatePath } from '../../agent/key-source.js';
import { getLogger } from '../../log.js';
import { askAgent } from '../agent-query.js';

export interface CardStatus {
  readonly ident: string;
  readonly reader: string;
  readonly algorithm: string;
  readonly fingerprint: string | null;
  readonly usable: boolean;
  readonly problem: string | null;
  readonly pin: string;
  readonly pinRetries: number | null;
  readonly touch: string;
}

export interface StatusOptions {
  readonly env: NodeJS.ProcessEnv;
  readonly stdout: (text: string) => Promise<void>;
  readonly json: boolean;
  readonly simulate?: { readonly algorithm: SimAlgorithm; readonly statePath?: string | undefined } | undefined;
}

/**
 * `openpgp-card-agent status`: reads every card itself (PC/SC in shared mode, so a running agent
 * does not stand in the way) and the keychain. Costs no PIN try: the retry counter is read
 * with GET DATA, never with VERIFY.
 */
export async function runStatus(opts: StatusOptions): Promise<number> {
  if (opts.simulate !== undefined) {
    // status only looks: it never creates the virtual card (nor its directory).
    const path = opts.simulate.statePath ?? simulatorStatePath(opts.env, opts.simulate.algorithm);
    if (!existsSync(path)) throw new ConfigError(`no virtual card at ${path}: \`openpgp-card-agent --simulate\` creates it on its first start`);
  }
  const source = await createKeySource({ env: opts.env, log: getLogger('cli'), simulate: opts.simulate === undefined ? undefined : { ...opts.simulate, presetPin: false }, notify: false, readOnly: true });
  try {
    await source.start();
    const rows: CardStatus[] = [];
    for (const session of source.cards.list()) {
      const aut = session.snapshot.applicationData.algorithms.aut;
      const view = source.provider.view(session);
      let retries: number | null = null;
      let pin: string;
      try {
        retries = await session.run('status', (op) => op.pw1Retries());
      } catch {
        retries = null;
      }
      try {
        pin = await source.pins.locate(session.ident);
      } catch (err) {
        pin = err instanceof AgentError ? 'keychain unreachable' : 'unknown';
      }
      rows.push({
        ident: session.ident,
        reader: session.reader,
        algorithm: aut === undefined ? 'none' : describeAlgorithm(aut),
        fingerprint: view.fingerprint ?? null,
        usable: view.unusable === undefined,
        problem: view.unusable ?? null,
        pin,
        pinRetries: retries,
        touch: session.snapshot.applicationData.touch.aut,
      });
    }
    if (opts.json) {
      await opts.stdout(`${JSON.stringify(rows, null, 2)}\n`);
    } else if (rows.length === 0) {
      await opts.stdout(`No OpenPGP cards found${opts.simulate === undefined ? ' over PC/SC' : ''}.\n${await agentHint(opts)}`);
    } else {
      for (const r of rows) {
        await opts.stdout(
          [
            `${r.ident} (${r.reader})`,
            `  key:          ${r.algorithm}${r.usable ? '' : `  (not usable for SSH: ${r.problem})`}`,
            `  fingerprint:  ${r.fingerprint ?? '-'}`,
            `  PIN stored:   ${r.pin}`,
            `  PIN retries:  ${r.pinRetries ?? 'unknown'}`,
            `  touch:        ${r.touch}`,
            '',
          ].join('\n'),
        );
      }
    }
    return 0;
  } finally {
    await source.close();
  }
}

/**
 * When status finds no card but the agent in SSH_AUTH_SOCK offers keys (a virtual card, or cards
 * another way), say so: "no cards" next to a working ssh-add -L is confusing.
 */
async function agentHint(opts: StatusOptions): Promise<string> {
  const sock = opts.env['SSH_AUTH_SOCK'];
  if (opts.simulate !== undefined || sock === undefined || sock === '') return '';
  try {
    const a = await askAgent(sock, { type: 'request-identities' }, 2000);
    if (a.kind !== 'reply' || a.response.type !== 'identities-answer' || a.response.identities.length === 0) return '';
    const n = a.response.identities.length;
    return `The agent on ${sock} offers ${n} key${n === 1 ? '' : 's'} (ssh-add -L); if it runs with --simulate, see: openpgp-card-agent status --simulate\n`;
  } catch {
    return '';
  }
}
