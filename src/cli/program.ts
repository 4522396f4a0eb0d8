import { Command, CommanderError, InvalidArgumentError, Option } from 'commander';
import { DEFAULT_CARD_IDLE_LOCK_SECONDS, DEFAULT_CARD_WAIT_SECONDS } from '../agent/defaults.js';
import { ConfigError } from '../errors.js';
import { configureLogging, getLogger } from '../log.js';
import { parseHostAddress, parseSocketPath, type ListenAddress } from '../server/listen-address.js';
import { takeSystemdSocket } from '../server/systemd.js';
import { runDaemon } from './commands/daemon.js';
import { runGpgCommand } from './commands/gpg.js';
import { buildStatusCommand, runStatus } from './commands/status.js';
import { killAgent } from './commands/kill.js';
import { startBackground } from './commands/start-background.js';
import { defaultListenAddress } from './default-socket.js';
import { EXIT, errorMessage, exitCodeFor } from './exit-codes.js';
import { shellFromEnv, type ShellSyntax } from './shell-output.js';
import { packageVersion } from './version.js';
import type { SimAlgorithm } from '../simulator/card-keys.js';
import { FORWARDED_POLICIES, type ForwardedPolicy } from '../agent/forwarding-policy.js';

const SIM_ALGORITHMS_FOR_SSH: SimAlgorithm[] = ['ed25519', 'p256', 'p384', 'p521', 'rsa2048', 'rsa3072', 'rsa4096'];

/** The process's surroundings, passed in so tests can run the CLI in-process. */
export interface CliIo {
  readonly env: NodeJS.ProcessEnv;
  readonly isTty: boolean;
  readonly stdout: (text: string) => Promise<void>;
  readonly stderr: (text: string) => Promise<void>;
}

/** Options as commander parses them (short-only ssh-agent flags keep their letter as name). */
export interface CliOptions {
  readonly host?: string;
  readonly a?: string;
  readonly s?: boolean;
  readonly c?: boolean;
  readonly k?: boolean;
  readonly D?: boolean;
  readonly simulate?: boolean;
  readonly simulateAlgo?: string;
  readonly simulateState?: string;
  readonly notify?: boolean;
  readonly simulatePin?: boolean;
  readonly cardIdleLock?: number;
  readonly cardWait?: number;
  readonly forwarded?: ForwardedPolicy;
}

const EXAMPLES = `
Examples:
  openpgp-card-agent
      Run in the foreground on the default socket
      ($XDG_RUNTIME_DIR/openpgp-card-agent/agent.sock).
  eval "$(openpgp-card-agent -s)"
      Start in the background and set SSH_AUTH_SOCK and SSH_AGENT_PID, like ssh-agent.
  eval "$(openpgp-card-agent -k)"
      Stop the agent named by SSH_AGENT_PID.
  openpgp-card-agent status [--json]
      Show each card: ident, reader, key, fingerprint, PIN stored, retries, touch.
  openpgp-card-agent --simulate
      No card at hand: serve a virtual card (created on first use, User PIN 123456).
  openpgp-card-agent --simulate --simulate-algo rsa4096
  openpgp-card-agent gpg --help
      OpenPGP signatures by the card for git (gpg.program openpgp-card-agent-gpg).
  openpgp-card-agent -H unix://$XDG_RUNTIME_DIR/card-agent.sock
  openpgp-card-agent -a ~/.ssh/card-agent.sock
      Listen on a chosen socket (its directory must be private: mode 0700).
  DEBUG=warn,agent=debug,card=trace openpgp-card-agent
      Choose log levels per component (RUST_LOG is read when DEBUG is unset).

Log levels: off, error, warn, info (default), debug, trace.
Log targets: server, protocol, agent, card, pcsc, pins, notify, simulator, cli.
Under systemd socket activation (LISTEN_FDS) the agent listens on the passed socket.
`;

export function buildProgram(): Command {
  return new Command()
    .name('openpgp-card-agent')
    .description('An ssh-agent whose keys live on OpenPGP smartcards.')
    .version(packageVersion(), '--version', 'print the version and exit')
    .helpOption('-h, --help', 'show this help')
    .addOption(new Option('-H, --host <address>', 'listen on unix://PATH or \\\\.\\pipe\\NAME').conflicts('a'))
    .addOption(new Option('-a <path>', 'bind the agent to the unix socket PATH (as ssh-agent -a)'))
    .addOption(new Option('-s', 'start in the background and print Bourne shell commands setting SSH_AUTH_SOCK').conflicts('c'))
    .addOption(new Option('-c', 'start in the background and print csh commands setting SSH_AUTH_SOCK'))
    .addOption(new Option('-k', 'kill the agent named by SSH_AGENT_PID').conflicts(['D', 'a', 'host']))
    .addOption(new Option('-D', 'stay in the foreground (the default)'))
    .addOption(new Option('--simulate', 'serve a built-in virtual OpenPGP card (User PIN 123456) instead of PC/SC cards'))
    .addOption(
      new Option('--simulate-algo <algorithm>', 'key algorithm of the virtual card').choices(SIM_ALGORITHMS_FOR_SSH).default('ed25519'),
    )
    .addOption(new Option('--no-simulate-pin', "don't hand the virtual card's PIN to the agent: it must come from ssh-add -s or the keychain, as with a real card"))
    .addOption(new Option('--no-notify', 'no desktop notifications (messages still go to the log)'))
    .addOption(
      new Option('--card-idle-lock <seconds>', 'make each card forget its verified PIN after this many seconds without use (0: after every signature)')
        .default(DEFAULT_CARD_IDLE_LOCK_SECONDS)
        .argParser(parseSeconds),
    )
    .addOption(
      new Option('--card-wait <seconds>', 'how long a request waits while another application has a card to itself, before it fails')
        .default(DEFAULT_CARD_WAIT_SECONDS)
        .argParser(parseSeconds),
    )
    .addOption(new Option('--simulate-state <file>', 'where the virtual card keeps its keys (default $XDG_STATE_HOME/openpgp-card-agent/)'))
    .addOption(new Option('--forwarded <policy>', 'requests through ssh -A: allow, confirm (ask via SSH_ASKPASS; the default) or deny').choices(FORWARDED_POLICIES))
    .addHelpText('after', EXAMPLES)
    .allowExcessArguments(false)
    .exitOverride();
}

function parseSeconds(value: string): number {
  const n = Number(value);
  if (!/^\d+(\.\d+)?$/.test(value.trim()) || !Number.isFinite(n) || n > 86_400) {
    throw new InvalidArgumentError('a number of seconds from 0 to 86400');
  }
  return n;
}

/** Where the daemon listens: a systemd-passed socket first, then -H, then -a, then the default. */
export function resolveAddress(opts: CliOptions, env: NodeJS.ProcessEnv): ListenAddress {
  const fd = takeSystemdSocket(env);
  if (fd !== undefined) {
    if (opts.host !== undefined || opts.a !== undefined) {
      getLogger('cli').warn('systemd passed a socket; ignoring -H/-a');
    }
    return { kind: 'fd', fd };
  }
  if (opts.host !== undefined) return parseHostAddress(opts.host);
  if (opts.a !== undefined) return parseSocketPath(opts.a);
  return defaultListenAddress(env);
}

/** The options the background daemon must be started with again. */
function daemonArgsOf(opts: CliOptions): string[] {
  const args: string[] = [];
  if (opts.simulate === true) args.push('--simulate', '--simulate-algo', opts.simulateAlgo ?? 'ed25519');
  if (opts.simulateState !== undefined) args.push('--simulate-state', opts.simulateState);
  if (opts.notify === false) args.push('--no-notify');
  if (opts.simulatePin === false) args.push('--no-simulate-pin');
  if (opts.cardIdleLock !== undefined) args.push('--card-idle-lock', String(opts.cardIdleLock));
  if (opts.cardWait !== undefined) args.push('--card-wait', String(opts.cardWait));
  if (opts.forwarded !== undefined) args.push('--forwarded', opts.forwarded);
  return args;
}

function shellOf(opts: CliOptions, env: NodeJS.ProcessEnv): ShellSyntax {
  if (opts.c === true) return 'csh';
  if (opts.s === true) return 'sh';
  return shellFromEnv(env);
}

/**
 * Parses `argv` with `cmd`; commander's own output (help, version, usage errors) goes to io.
 * Returns the options, or the exit code when parsing ended the run.
 */
async function parseOptions<T>(cmd: Command, argv: readonly string[], io: CliIo): Promise<T | number> {
  let out = '';
  let err = '';
  cmd.configureOutput({ writeOut: (s) => void (out += s), writeErr: (s) => void (err += s) });
  try {
    cmd.parse([...argv], { from: 'user' });
    return cmd.opts<T & Record<string, unknown>>();
  } catch (e) {
    if (out !== '') await io.stdout(out);
    if (err !== '') await io.stderr(err);
    if (e instanceof CommanderError) return e.exitCode === 0 ? EXIT.OK : EXIT.USAGE;
    throw e;
  }
}

/** Runs the CLI; returns the exit code. Every error ends here as one line on stderr. */
export async function run(argv: readonly string[], io: CliIo): Promise<number> {
  if (argv[0] === 'status') return runStatusCommand(argv.slice(1), io);
  if (argv[0] === 'gpg') return runGpgCommand(argv.slice(1), io.env);
  const parsed = await parseOptions<CliOptions>(buildProgram(), argv, io);
  if (typeof parsed === 'number') return parsed;
  const opts = parsed;

  try {
    configureLogging(io.env, io.isTty);
    if (opts.k === true) return await killAgent({ env: io.env, shell: shellOf(opts, io.env), stdout: io.stdout });
    const address = resolveAddress(opts, io.env);
    const background = (opts.s === true || opts.c === true) && opts.D !== true;
    if (background) {
      if (address.kind === 'fd') throw new ConfigError('-s/-c cannot be used under systemd socket activation');
      return await startBackground({
        address,
        shell: shellOf(opts, io.env),
        env: io.env,
        stdout: io.stdout,
        stderr: io.stderr,
        daemonArgs: daemonArgsOf(opts),
      });
    }
    const printEnv = opts.s === true || opts.c === true ? shellOf(opts, io.env) : undefined;
    const simulate = opts.simulate === true ? { algorithm: (opts.simulateAlgo ?? 'ed25519') as SimAlgorithm, statePath: opts.simulateState, presetPin: opts.simulatePin !== false } : undefined;
    return await runDaemon({
      address,
      env: io.env,
      stdout: io.stdout,
      ...(printEnv === undefined ? {} : { printEnv }),
      ...(simulate === undefined ? {} : { simulate }),
      notify: opts.notify !== false,
      ...(opts.cardIdleLock === undefined ? {} : { cardIdleLockSeconds: opts.cardIdleLock }),
      ...(opts.cardWait === undefined ? {} : { cardWaitSeconds: opts.cardWait }),
      ...(opts.forwarded === undefined ? {} : { forwarded: opts.forwarded }),
    });
  } catch (e) {
    await io.stderr(`${errorMessage(e)}\n`);
    return exitCodeFor(e);
  }
}

interface StatusCliOptions {
  readonly json?: boolean;
  readonly simulate?: boolean;
  readonly simulateAlgo?: string;
  readonly simulateState?: string;
}

async function runStatusCommand(argv: readonly string[], io: CliIo): Promise<number> {
  const parsed = await parseOptions<StatusCliOptions>(buildStatusCommand(), argv, io);
  if (typeof parsed === 'number') return parsed;
  const opts = parsed;
  try {
    configureLogging({ ...io.env, DEBUG: io.env['DEBUG'] ?? 'warn' }, io.isTty);
    const simulate = opts.simulate === true ? { algorithm: (opts.simulateAlgo ?? 'ed25519') as SimAlgorithm, statePath: opts.simulateState } : undefined;
    return await runStatus({ env: io.env, stdout: io.stdout, json: opts.json === true, simulate });
  } catch (e) {
    await io.stderr(`${errorMessage(e)}\n`);
    return exitCodeFor(e);
  }
}
