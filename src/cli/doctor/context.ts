import { execFile } from 'node:child_process';
import { homedir } from 'node:os';
import { getLogger } from '../../log.js';
import { filesystemOf } from '../../os/network-filesystem.js';
import type { KeychainPins, PinStatus } from '../../pins/keychain-pins.js';
import { defaultListenAddress } from '../default-socket.js';
import { surveyCards, type CardSurvey } from './card-survey.js';
import type { DoctorContext, ExecResult } from './check.js';
import { pcscClients } from './pcsc-clients.js';

/** Runs a program; undefined when it is not there (ENOENT), else its exit code and output. */
export function execProgram(file: string, args: readonly string[], opts: { env?: NodeJS.ProcessEnv; timeoutMs?: number } = {}): Promise<ExecResult | undefined> {
  return new Promise((resolve) => {
    execFile(file, [...args], { env: opts.env, timeout: opts.timeoutMs ?? 5000, encoding: 'utf8' }, (err, stdout, stderr) => {
      if (err !== null && (err as NodeJS.ErrnoException).code === 'ENOENT') {
        resolve(undefined);
        return;
      }
      const code = err === null ? 0 : typeof err.code === 'number' ? err.code : null;
      resolve({ code, stdout, stderr });
    });
  });
}

/** The keychain's bound for each question doctor asks it. */
const KEYCHAIN_TIMEOUT_MS = 5000;

/**
 * The context of this process. PC/SC is reached through this process's environment (libpcsclite
 * reads PCSCLITE_CSOCK_NAME itself), which is `env` when doctor runs from the CLI.
 */
export function processContext(env: NodeJS.ProcessEnv): DoctorContext {
  const address = defaultListenAddress(env);
  if (address.kind === 'fd') throw new Error('unreachable: the default address is a path');
  let survey: Promise<CardSurvey> | undefined;
  /** The /proc scan for PC/SC programs, once per pcscd socket in a doctor run (two checks ask). */
  const clients = new Map<string, ReturnType<typeof pcscClients>>();
  let pins: Promise<KeychainPins> | undefined;
  const openPins = async (): Promise<KeychainPins> => {
    const [{ KeychainPins, OsKeychain }, { CardStateConfig, cardStateConfigPath }] = await Promise.all([import('../../pins/keychain-pins.js'), import('../../pins/card-state-config.js')]);
    const log = getLogger('pins');
    return new KeychainPins(new OsKeychain(env, { timeoutMs: KEYCHAIN_TIMEOUT_MS, log }), new CardStateConfig(cardStateConfigPath(env)), log);
  };
  return {
    env,
    platform: process.platform,
    uid: process.getuid?.(),
    home: env['HOME'] !== undefined && env['HOME'] !== '' ? env['HOME'] : homedir(),
    defaultAddress: address,
    exec: (file, args, opts) => execProgram(file, args, { env: opts?.env ?? env, ...(opts?.timeoutMs === undefined ? {} : { timeoutMs: opts.timeoutMs }) }),
    pcsc: () => (survey ??= surveyCards(getLogger('pcsc'))),
    filesystemOf: (path) => filesystemOf(path),
    pinStatus: async (ident): Promise<PinStatus> => (await (pins ??= openPins())).status(ident),
    pcscClients: (socket) => {
      let found = clients.get(socket);
      if (found === undefined) clients.set(socket, (found = pcscClients(socket)));
      return found;
    },
  };
}
