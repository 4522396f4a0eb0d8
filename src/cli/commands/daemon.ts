import { Agent } from '../../agent/agent.js';
import { getLogger } from '../../log.js';
import { hardenProcess } from '../../os/process-hardening.js';
import { AgentServer } from '../../server/agent-server.js';
import { describeAddress, type ListenAddress } from '../../server/listen-address.js';
import { createKeyProvider, type KeyProviderOptions } from '../key-provider-factory.js';
import { foregroundOutput, type ShellSyntax } from '../shell-output.js';

export interface DaemonOptions {
  readonly address: ListenAddress;
  readonly env: NodeJS.ProcessEnv;
  readonly stdout: (text: string) => Promise<void>;
  /** With -D -s / -D -c: print SSH_AUTH_SOCK for this shell once listening, as ssh-agent -D does. */
  readonly printEnv?: ShellSyntax;
  /** --simulate: serve a virtual card. */
  readonly simulate?: KeyProviderOptions['simulate'];
  readonly notify?: boolean;
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
    const keys = await createKeyProvider({ env: opts.env, log, simulate: opts.simulate, notify: opts.notify });
    closeKeys = keys.close;
    const agent = new Agent({ log: getLogger('agent'), keys: keys.provider });
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
  }
}
