import { homedir } from 'node:os';
import { join } from 'node:path';
import type { KeyProvider } from '../agent/key-provider.js';
import { CardKeyProvider } from '../agent/card-key-provider.js';
import { CardRegistry } from '../agent/card-registry.js';
import { CardRegistrySignatureKeys } from '../agent/card-signature-keys.js';
import type { ExtensionHandler } from '../agent/extension-handler.js';
import { openPgpExtensions } from '../agent/openpgp-signing.js';
import { getLogger, type Logger } from '../log.js';
import { askpassConfirm } from '../notify/askpass-confirm.js';
import { DesktopNotifier, LogOnlyNotifier } from '../notify/notifier.js';
import { CardStateConfig, cardStateConfigPath } from '../pins/card-state-config.js';
import { KeychainPins, OsKeychain, type Keychain } from '../pins/keychain-pins.js';
import { Secret } from '../secret.js';
import type { SimAlgorithm } from '../simulator/card-keys.js';
import { InProcessTransport } from '../simulator/in-process-transport.js';
import { PcscMonitor } from '../card/pcsc/pcsc-monitor.js';
import { PcscTransport } from '../card/pcsc/pcsc-transport.js';
import { CardBusyError } from '../errors.js';
import { VirtualCard } from '../simulator/virtual-card.js';

export type { KeyProvider };

/** The daemon's settings a key provider depends on. */
export interface KeyProviderOptions {
  readonly env: NodeJS.ProcessEnv;
  readonly log: Logger;
  /** Serve a built-in virtual card instead of PC/SC. */
  readonly simulate?: { readonly algorithm: SimAlgorithm; readonly statePath?: string | undefined; readonly presetPin?: boolean } | undefined;
  /** false with --no-notify. */
  readonly notify?: boolean | undefined;
  /** Tests may stand in for the OS keychain. */
  readonly keychain?: Keychain;
}

export interface KeySource {
  readonly provider: KeyProvider;
  readonly registry: CardRegistry;
  readonly pins: KeychainPins;
  /** The OpenPGP signing extensions (temporary source over the registry, see card-signature-keys.ts). */
  readonly extensions: ReadonlyMap<string, ExtensionHandler>;
  /** Starts watching for cards (PC/SC); resolves once the cards present now are attached. */
  start(): Promise<void>;
  close(): Promise<void>;
}

/** Where --simulate keeps its card: $XDG_STATE_HOME/openpgp-card-agent/virtual-card-<algo>.json. */
export function simulatorStatePath(env: NodeJS.ProcessEnv, algorithm: SimAlgorithm): string {
  const state = env['XDG_STATE_HOME'] !== undefined && env['XDG_STATE_HOME'] !== '' ? env['XDG_STATE_HOME'] : join(env['HOME'] ?? homedir(), '.local', 'state');
  return join(state, 'openpgp-card-agent', `virtual-card-${algorithm}.json`);
}

/** The default User PIN of a fresh virtual card. */
export const SIMULATOR_PIN = '123456';

/**
 * Builds the daemon's key source: the card registry, fed by the simulator (--simulate) or by
 * PC/SC, behind the card key provider.
 */
export async function createKeyProvider(options: KeyProviderOptions): Promise<KeySource> {
  const registry = new CardRegistry(getLogger('card'));
  const pins = new KeychainPins(options.keychain ?? new OsKeychain(), new CardStateConfig(cardStateConfigPath(options.env)), getLogger('pins'));
  const notifyLog = getLogger('notify');
  const provider = new CardKeyProvider({
    registry,
    pins,
    log: getLogger('agent'),
    notifier: options.notify === false ? new LogOnlyNotifier(notifyLog) : new DesktopNotifier(notifyLog),
    confirm: askpassConfirm(options.env, getLogger('agent')),
  });
  const closers: (() => Promise<void>)[] = [];
  if (options.simulate !== undefined) {
    const path = options.simulate.statePath ?? simulatorStatePath(options.env, options.simulate.algorithm);
    const card = await VirtualCard.loadOrCreate(path, { authAlgorithm: options.simulate.algorithm });
    const entry = await registry.attach('Virtual OpenPGP card (--simulate)', new InProcessTransport(card));
    // The simulated card's PIN is known: a newcomer can sign at once.
    if (options.simulate.presetPin !== false) await pins.preset(entry.ident, new Secret(SIMULATOR_PIN));
    options.log.info({ ident: entry.ident, state: path, algorithm: options.simulate.algorithm }, 'simulated card ready (its User PIN is the factory default, see the README)');
  }
  let start = async (): Promise<void> => {};
  if (options.simulate === undefined) {
    const monitor = new PcscMonitor(getLogger('pcsc'));
    const watcher = watchPcsc(monitor, registry);
    start = async () => {
      const firstScan = new Promise<void>((resolve) => monitor.once('scanned', resolve));
      monitor.start();
      await firstScan;
      await watcher.settled();
    };
    closers.push(async () => monitor.stop());
  }
  const extensions = openPgpExtensions(new CardRegistrySignatureKeys({ registry, pins, log: getLogger('agent') }), getLogger('agent'));
  return {
    provider,
    registry,
    pins,
    extensions,
    start,
    close: async () => {
      for (const c of closers) await c();
      await registry.closeAll();
    },
  };
}

/** Cards come and go with the readers pcscd reports; each is opened once and kept. */
function watchPcsc(monitor: PcscMonitor, registry: CardRegistry): { settled(): Promise<void> } {
  const log = getLogger('pcsc');
  const pending = new Map<string, NodeJS.Timeout>();
  const inFlight = new Set<Promise<void>>();
  const attach = async (reader: string): Promise<void> => {
    pending.delete(reader);
    if (monitor.pcscContext === undefined) return;
    let transport: PcscTransport | undefined;
    try {
      transport = await PcscTransport.connect(reader);
      const t = transport;
      const entry = await registry.attach(reader, t);
      // Another application reset the card: select again; the PIN is verified again on 6982.
      t.onReset = async () => {
        log.info({ reader, ident: entry.ident }, 'card was reset by another application; selecting it again');
        entry.pinVerified = false;
        await entry.card.reselect();
      };
    } catch (err) {
      await transport?.close();
      if (err instanceof CardBusyError) {
        log.warn({ reader }, err.message);
        // Try again while the card stays in the reader.
        const timer = setTimeout(() => void attach(reader), 1000);
        timer.unref();
        pending.set(reader, timer);
        return;
      }
      log.warn({ reader, err: err instanceof Error ? err.message : String(err) }, 'card not used: not an OpenPGP card, or it did not answer');
    }
  };
  monitor.on('card-inserted', (reader) => {
    const p = attach(reader);
    inFlight.add(p);
    void p.finally(() => inFlight.delete(p));
  });
  monitor.on('card-removed', (reader) => {
    const t = pending.get(reader);
    if (t !== undefined) clearTimeout(t);
    pending.delete(reader);
    registry.detach(reader);
  });
  return {
    settled: async () => {
      await Promise.allSettled([...inFlight]);
    },
  };
}
