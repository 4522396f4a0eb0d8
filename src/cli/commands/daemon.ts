import { closeSync, fstatSync, writeSync } from 'node:fs';
import type { ForwardedPolicy } from '../../agent/forwarding-policy.js';
import { DEFAULT_CARD_IDLE_LOCK_SECONDS } from '../../agent/defaults.js';
import { getLogger } from '../../log.js';
import { packageVersion } from '../version.js';
import { hardenProcess } from '../../os/process-hardening.js';
import { socketPathOfInode } from '../../os/procfs.js';
import { AgentServer } from '../../server/agent-server.js';
import { describeAddress, type ListenAddress } from '../../server/listen-address.js';
import { DeferredFrameHandler } from '../deferred-frame-handler.js';
import type { KeySource, KeySourceOptions } from '../../agent/key-source.js';
import { removePidFile, writePidFile } from '../pid-file.js';
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
  /** false with --no-prompt. */
  readonly prompt?: boolean;
  readonly pinentry?: string;
  readonly storePins?: 'ask' | 'always' | 'never';
  /** --max-connections: client connections open at once at most. */
  readonly maxConnections?: number;
  /** --ready-fd: write "READY\n" there once serving (the -s parent waits for it), then close it. */
  readonly readyFd?: number;
}

const STOP_SIGNALS = ['SIGINT', 'SIGTERM', 'SIGHUP'] as const;

/**
 * The daemon, in the foreground: listen, serve until SIGINT/SIGTERM/SIGHUP, then stop
 * gracefully (in-flight requests finish, bounded) and remove the socket. Resolves with the exit
 * code; start-up failures reject.
 *
 * The socket is up first: the agent core and the card layer (PC/SC, keychain, notifications)
 * are loaded afterwards (dynamic imports), and a request arriving meanwhile waits for them
 * (DeferredFrameHandler). A pid file beside a unix socket lets `-s`, `-k` and `doctor` find
 * this agent.
 */
export async function runDaemon(opts: DaemonOptions): Promise<number> {
  const log = getLogger('cli');
  // Non-dumpable, untraceable: PINs and the lock passphrase pass through this process.
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
  let keys: KeySource | undefined;
  let server: AgentServer | undefined;
  let pidFileOf: string | undefined;
  try {
    const handler = new DeferredFrameHandler();
    server = new AgentServer({ handler, log: getLogger('server'), ...(opts.maxConnections === undefined ? {} : { maxConnections: opts.maxConnections }) });
    await server.listen(opts.address);
    pidFileOf = await writePidFileFor(opts.address);
    try {
      const [{ Agent }, { createKeySource }, { ForwardingPolicy, agentConfigPath, loadForwardingConfig }, { askpassConfirm }, { KnownHosts, defaultKnownHostsFiles }, { STATUS_EXTENSION, statusExtension }] = await Promise.all([
        import('../../agent/agent.js'),
        import('../../agent/key-source.js'),
        import('../../agent/forwarding-policy.js'),
        import('../../notify/askpass-confirm.js'),
        import('../../ssh/known-hosts.js'),
        import('../../agent/status-report.js'),
      ]);
      keys = await createKeySource({
        env: opts.env,
        log,
        simulate: opts.simulate,
        notify: opts.notify,
        cardIdleLockSeconds: opts.cardIdleLockSeconds,
        cardWaitSeconds: opts.cardWaitSeconds,
        prompt: opts.prompt !== false,
        pinentry: opts.pinentry,
        storePins: opts.storePins,
      });
      const forwarding = new ForwardingPolicy({ flag: opts.forwarded, config: await loadForwardingConfig(agentConfigPath(opts.env)) });
      // The status extension reports the agent's bound sessions: it is made before the agent is.
      const ref: { agent?: InstanceType<typeof Agent> } = {};
      const status = statusExtension(keys.provider, { pid: process.pid, version: packageVersion(), cardIdleLockSeconds: opts.cardIdleLockSeconds ?? DEFAULT_CARD_IDLE_LOCK_SECONDS }, () => ref.agent?.boundSessions() ?? []);
      const agent = new Agent({
        log: getLogger('agent'),
        keys: keys.provider,
        extensions: new Map([...keys.extensions, [STATUS_EXTENSION, status]]),
        forwarding,
        confirm: askpassConfirm(opts.env, getLogger('agent')),
        hostNames: new KnownHosts(defaultKnownHostsFiles(opts.env['HOME'])),
      });
      ref.agent = agent;
      handler.resolve(agent);
    } catch (err) {
      handler.fail();
      throw err;
    }
    if (opts.readyFd !== undefined) signalReady(opts.readyFd);
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
    await server?.close();
    if (pidFileOf !== undefined) await removePidFile(pidFileOf);
    await keys?.close();
    // Loaded with the card layer, if it was: then a PC/SC thread may still be blocked in pcscd.
    if (keys !== undefined) {
      const { PcscThread } = await import('../../card/pcsc/pcsc-thread.js');
      if (PcscThread.anyRunning()) log.warn('pcscd did not answer; the agent exits without waiting for its PC/SC threads');
    }
  }
}

/**
 * The pid file beside our socket; for a socket systemd passed, beside the path it is bound at
 * (Linux /proc tells). Only a path we were given must get one: elsewhere it is best effort.
 */
async function writePidFileFor(address: ListenAddress): Promise<string | undefined> {
  if (address.kind === 'unix') {
    await writePidFile(address.path);
    return address.path;
  }
  if (address.kind !== 'fd') return undefined;
  try {
    const path = socketPathOfInode(fstatSync(address.fd).ino);
    if (path === undefined || !path.startsWith('/')) return undefined;
    await writePidFile(path);
    return path;
  } catch (err) {
    getLogger('cli').debug({ err: (err as Error).message }, 'no pid file for the passed socket');
    return undefined;
  }
}

function signalReady(fd: number): void {
  try {
    writeSync(fd, 'READY\n');
    closeSync(fd);
  } catch (err) {
    // The parent gave up waiting; we serve anyway.
    getLogger('cli').debug({ err: (err as Error).message }, 'could not report readiness');
  }
}
