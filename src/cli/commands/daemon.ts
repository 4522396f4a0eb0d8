import { Agent } from '../../agent/agent.js';
import { ForwardingPolicy, agentConfigPath, loadForwardingConfig, type ForwardedPolicy } from '../../agent/forwarding-policy.js';
import { getLogger } from '../../log.js';
import { askpassConfirm } from '../../notify/askpass-confirm.js';
import { KnownHosts, defaultKnownHostsFiles } from '../../ssh/known-hosts.js';
import { hardenProcess } from '../../os/process-hardening.js';
import { AgentServer } from '../../server/agent-server.js';
import { describeAddress, type ListenAddress } from '../../server/listen-address.js';
import { createKeySource, type KeySourceOptions } from '../../agent/key-source.js';
import { PcscThread } from '../../card/pcsc/pcsc-thread.js';
import { foregroundOutput, type ShellSyntax } from '../shell-output.js';

export interface DaemonOptions {
  readonly address: ListenAddress;
  readonly env: NodeJS.ProcessEnv;
  readonly stdout: (text: string) => Promise<void>;
  /** With -D -s / -D -c: print SSH_AUTH_SOCK for this shell once listening, as ssh-agent -D does. */
  readonly printEnv?: ShellSyntax;
  /** --simulate: serve a virtual card. */
  readonly simulate?: KeySourceOptions['simulate'];
  readonly notify?: boolean;
  /** --card-idle-lock, in seconds. */
  readonly cardIdleLockSeconds?: number;
  /** --card-wait, in seconds. */
  readonly cardWaitSeconds?: number;
  /** --forwarded: what to do with requests that come through agent forwarding. */
  readonly forwarded?: ForwardedPolicy;
}

const STOP_SIGNALS = ['SIGINT', 'SIGTERM', 'SIGHUP'] as const;

/**
 * The daemon, in the foreground: listen, serve until SIGINT/SIGTERM/SIGHUP, then stop
 * gracefully (in-flight requests finish, bounded) and remove the socket. Resolves with the exit
 * code; start-up failures reject.
 */
export async function runDaemon(opts: DaemonOptions): Promise<number> {
  const log = getLogger('cli');
  hardenProcess(log);
  let stopRequested: (signal: NodeJS.Signals) => void = () => undefined;
  const stopped = new Promise<NodeJS.Signals>((resolve) => (stopRequested = resolve));
  let signals = 0;
  const onSignal = (signal: NodeJS.Signals): void => {
    if (signals++ > 0) {
      log.info({ signal }, 'already stopping');
      return;
    }
    stopRequested(signal);
  };
  // Installed before listening, so a signal during start-up still stops us cleanly.
  for (const s of STOP_SIGNALS) process.on(s, onSignal);
  let closeKeys: (() => Promise<void>) | undefined;
  try {
    const keys = await createKeySource({ env: opts.env, log, simulate: opts.simulate, notify: opts.notify, cardIdleLockSeconds: opts.cardIdleLockSeconds, cardWaitSeconds: opts.cardWaitSeconds });
    closeKeys = keys.close;
    const forwarding = new ForwardingPolicy({ flag: opts.forwarded, config: await loadForwardingConfig(agentConfigPath(opts.env)) });
    const agent = new Agent({
      log: getLogger('agent'),
      keys: keys.provider,
      extensions: keys.extensions,
      forwarding,
      confirm: askpassConfirm(opts.env, getLogger('agent')),
      hostNames: new KnownHosts(defaultKnownHostsFiles(opts.env['HOME'])),
    });
    const server = new AgentServer({ handler: agent, log: getLogger('server') });
    await server.listen(opts.address);
    // Cards are looked for once the socket is ours: a refused start touches no card.
    await keys.start();
    log.info({ address: describeAddress(opts.address) }, 'agent started');
    if (opts.printEnv !== undefined && opts.address.kind !== 'fd') {
      await opts.stdout(foregroundOutput(opts.printEnv, opts.address.path, process.pid));
    }
    const signal = await stopped;
    log.info({ signal }, 'stopping');
    await server.close();
    return 0;
  } finally {
    for (const s of STOP_SIGNALS) process.off(s, onSignal);
    await closeKeys?.();
    if (PcscThread.anyRunning()) log.warn('pcscd did not answer; the agent exits without waiting for its PC/SC threads');
  }
}
