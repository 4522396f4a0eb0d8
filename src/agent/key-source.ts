import { homedir } from 'node:os';
import { join } from 'node:path';
import { PcscConnection } from '../card/pcsc/pcsc-connection.js';
import { PcscMonitor } from '../card/pcsc/pcsc-monitor.js';
import { getLogger, type Logger } from '../log.js';
import { askpassConfirm } from '../notify/askpass-confirm.js';
import { askpassProgram } from '../notify/askpass.js';
import { UserPinPrompt } from '../notify/pin-prompt.js';
import { DesktopNotifier, LogOnlyNotifier } from '../notify/notifier.js';
import { CardStateConfig, cardStateConfigPath } from '../pins/card-state-config.js';
import { KeychainPins, OsKeychain, type Keychain } from '../pins/keychain-pins.js';
import { Secret } from '../secret.js';
import type { SimAlgorithm } from '../simulator/card-keys.js';
import { InProcessTransport } from '../simulator/in-process-transport.js';
import { VirtualCard } from '../simulator/virtual-card.js';
import { CardKeyProvider, DEFAULT_CARD_IDLE_LOCK_SECONDS } from './card-key-provider.js';
import { CardManager } from './card-manager.js';
import type { ExtensionHandler } from './extension-handler.js';
import { openPgpExtensions } from './openpgp-signing.js';
import { DEFAULT_CARD_WAIT_SECONDS } from './defaults.js';

/** The daemon's settings the card keys depend on. */
export interface KeySourceOptions {
  readonly env: NodeJS.ProcessEnv;
  readonly log: Logger;
  /** Serve a built-in virtual card instead of PC/SC. */
  readonly simulate?: { readonly algorithm: SimAlgorithm; readonly statePath?: string | undefined; readonly presetPin?: boolean } | undefined;
  /** false with --no-notify. */
  readonly notify?: boolean | undefined;
  /** Tests may stand in for the OS keychain. */
  readonly keychain?: Keychain;
  /** --card-idle-lock, in seconds. */
  readonly cardIdleLockSeconds?: number | undefined;
  /** --card-wait, in seconds. */
  readonly cardWaitSeconds?: number | undefined;
  /** Only look at the cards (status): never make a card forget a PIN the running agent may rely on. */
  readonly readOnly?: boolean;
  /** --no-prompt: never ask for a PIN; signing without one fails with the ssh-add -s hint. */
  readonly prompt?: boolean;
  /** --pinentry PROGRAM (otherwise the one GnuPG would use). */
  readonly pinentry?: string | undefined;
  /** --store-pins: whether a PIN typed into the prompt goes to the keychain (ask, always, never). */
  readonly storePins?: 'ask' | 'always' | 'never' | undefined;
}

export interface KeySource {
  readonly provider: CardKeyProvider;
  /** The OpenPGP signing extensions (git commit signing), served by the same provider. */
  readonly extensions: ReadonlyMap<string, ExtensionHandler>;
  readonly cards: CardManager;
  readonly pins: KeychainPins;
  /** Starts watching for cards (PC/SC); resolves once the cards present now are attached. */
  start(): Promise<void>;
  /** Every card forgets its verified PIN, then the cards are let go. */
  close(): Promise<void>;
}

/** Where --simulate keeps its card: $XDG_STATE_HOME/openpgp-card-agent/virtual-card-<algo>.json. */
export function simulatorStatePath(env: NodeJS.ProcessEnv, algorithm: SimAlgorithm): string {
  const state = env['XDG_STATE_HOME'] !== undefined && env['XDG_STATE_HOME'] !== '' ? env['XDG_STATE_HOME'] : join(env['HOME'] ?? homedir(), '.local', 'state');
  return join(state, 'openpgp-card-agent', `virtual-card-${algorithm}.json`);
}

/** The default User PIN of a fresh virtual card. */
export const SIMULATOR_PIN = '123456';

/** How long stopping waits for the cards to forget their PINs (a hung pcscd never answers). */
const CLOSE_BOUND_MS = 5000;

/**
 * The daemon's card keys: the card manager, fed by the simulator (--simulate) or by the PC/SC
 * reader monitor, behind the card key provider. Card lifecycle lives here, not in the CLI.
 */
export async function createKeySource(options: KeySourceOptions): Promise<KeySource> {
  const cards = new CardManager({ log: getLogger('card'), traceApdus: true });
  const notifyLog = getLogger('notify');
  const notifier = options.notify === false ? new LogOnlyNotifier(notifyLog) : new DesktopNotifier(notifyLog);
  const pins = new KeychainPins(options.keychain ?? new OsKeychain(options.env, { log: getLogger('pins') }), new CardStateConfig(cardStateConfigPath(options.env)), getLogger('pins'), { notifier });
  const provider = new CardKeyProvider({
    cards,
    pins,
    log: getLogger('agent'),
    notifier,
    confirm: askpassConfirm(options.env, getLogger('agent')),
    confirmUnavailable: () => {
      const how = askpassProgram(options.env);
      return 'refused' in how ? how.refused : undefined;
    },
    ...(options.prompt === false || options.readOnly === true
      ? {}
      : { prompt: new UserPinPrompt({ env: options.env, log: notifyLog, pinentry: options.pinentry, store: options.storePins ?? 'ask' }) }),
    idleLockMs: (options.cardIdleLockSeconds ?? DEFAULT_CARD_IDLE_LOCK_SECONDS) * 1000,
    lockCards: options.readOnly !== true,
  });
  let start = async (): Promise<void> => {};
  let stopWatching = async (): Promise<void> => {};
  if (options.simulate !== undefined) {
    const path = options.simulate.statePath ?? simulatorStatePath(options.env, options.simulate.algorithm);
    const card = await VirtualCard.loadOrCreate(path, { authAlgorithm: options.simulate.algorithm });
    const session = await cards.attach('Virtual OpenPGP card (--simulate)', async () => new InProcessTransport(card));
    // The simulated card's PIN is known: a newcomer can sign at once.
    if (session !== undefined && options.simulate.presetPin !== false) await pins.preset(session.ident, new Secret(SIMULATOR_PIN));
    options.log.info({ ident: session?.ident, state: path, algorithm: options.simulate.algorithm }, 'simulated card ready (its User PIN is the factory default, see the README)');
  } else {
    const pcscLog = getLogger('pcsc');
    const monitor = new PcscMonitor(pcscLog);
    cards.follow(monitor, (reader) => PcscConnection.open(reader, pcscLog, { transactionWaitMs: (options.cardWaitSeconds ?? DEFAULT_CARD_WAIT_SECONDS) * 1000 }));
    start = async () => {
      const firstLook = new Promise<void>((resolve) => monitor.once('scanned', resolve));
      monitor.start();
      await firstLook;
      await cards.settled();
    };
    stopWatching = () => monitor.stop();
  }
  return {
    provider,
    extensions: openPgpExtensions(provider, getLogger('agent')),
    cards,
    pins,
    start,
    close: async () => {
      await bounded(provider.close(), CLOSE_BOUND_MS);
      await bounded(stopWatching(), CLOSE_BOUND_MS);
      await cards.closeAll();
      pins.close();
    },
  };
}

async function bounded(p: Promise<void>, ms: number): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  await Promise.race([p.catch(() => undefined), new Promise<void>((resolve) => (timer = setTimeout(resolve, ms)))]);
  clearTimeout(timer);
}
