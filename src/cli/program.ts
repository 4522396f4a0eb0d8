import { Command, CommanderError, InvalidArgumentError, Option } from 'commander';
import { DEFAULT_CARD_IDLE_LOCK_SECONDS, DEFAULT_CARD_WAIT_SECONDS, DEFAULT_MAX_CONNECTIONS, FORWARDED_POLICIES, type ForwardedPolicy } from '../agent/defaults.js';
import { ConfigError } from '../errors.js';
import { configureLogging, defaultLogOutput, getLogger, LOG_FORMATS, type LogDirectives, type LogFormat, type LogOutput } from '../log.js';
import type { FdKind } from '../os/service-manager.js';
import { underServiceManager } from '../os/service-manager.js';
import { parseHostAddress, parseSocketPath, type ListenAddress } from '../server/listen-address.js';
import { takeSystemdSocket } from '../server/systemd.js';
import { claimListenAddress, defaultListenAddress } from './default-socket.js';
import { EXIT, errorMessage, exitCodeFor } from './exit-codes.js';
import { shellFromEnv, type ShellSyntax } from './shell-output.js';
import { packageVersion } from './version.js';
import type { SimAlgorithm } from '../simulator/card-keys.js';

/*
 * The command line. Only what listening needs is imported up front; each command's
 * implementation (and with it the card layer, the keychain, ...) is a dynamic import, so the
 * daemon's socket is up before those load.
 */

export const SIM_ALGORITHMS_FOR_SSH: SimAlgorithm[] = ['ed25519', 'p256', 'p384', 'p521', 'rsa2048', 'rsa3072', 'rsa4096'];

/** The process's surroundings, passed in so tests can run the CLI in-process. */
export interface CliIo {
  readonly env: NodeJS.ProcessEnv;
  /** Whether stderr is a terminal. */
  readonly isTty: boolean;
  /** What stdout is (main.ts: fstat of fd 1). A pipe or socket means `$(...)` captures it. */
  readonly stdoutKind?: FdKind;
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
  readonly logFormat?: LogFormat;
  readonly logFile?: string;
  readonly readyFd?: string;
  readonly cardIdleLock?: number;
  readonly cardWait?: number;
  readonly forwarded?: ForwardedPolicy;
  readonly prompt?: boolean;
  readonly pinentry?: string;
  readonly storePins?: 'ask' | 'always' | 'never';
  readonly maxConnections?: number;
}

export const EXAMPLES = `
Examples:
  openpgp-card-agent -D
      Run in the foreground on the default socket
      ($XDG_RUNTIME_DIR/openpgp-card-agent/agent.sock).
  eval "$(openpgp-card-agent -s)"
      Start in the background and set SSH_AUTH_SOCK and SSH_AGENT_PID, like ssh-agent. If an
      agent already serves the socket, print its lines instead. The background agent logs to
      agent.log beside the socket ($XDG_RUNTIME_DIR/openpgp-card-agent/agent.log), appended,
      rotated at 1 MiB with 3 old files kept.
  eval "$(openpgp-card-agent -k)"
      Stop the agent named by SSH_AGENT_PID, else the one on the default socket.
  openpgp-card-agent service install
      Start the agent with your session (systemd user units, launchd, Windows Startup folder).
  openpgp-card-agent doctor
      Say what is wrong (SSH_AUTH_SOCK, scdaemon, keychain, notifications) and how to fix it.
  openpgp-card-agent status [--json]
      Show each card: ident, reader, key, fingerprint, PIN stored, retries, touch.
  openpgp-card-agent --simulate
      No card at hand: serve a virtual card (created on first use, User PIN 123456).
  openpgp-card-agent gpg --help
      OpenPGP signatures by the card for git (gpg.program openpgp-card-agent-gpg).
  openpgp-card-agent -H unix://$XDG_RUNTIME_DIR/card-agent.sock
  openpgp-card-agent -a ~/.ssh/card-agent.sock
      Listen on a chosen socket (its directory must be private: mode 0700).
  DEBUG=warn,agent=debug,card=trace openpgp-card-agent
      Choose log levels per component (RUST_LOG is read when DEBUG has nothing for us).

Without -D, -s or -c the agent stays in the foreground, unless its output is captured
(eval "$(openpgp-card-agent)"): then it starts in the background as with -s.
Logs go to stderr: text on a terminal, in files and under systemd/launchd (journald gets
priorities), JSON when stderr is a pipe; --log-format chooses.
Log levels: off, error, warn, info (default), debug, trace.
Log targets: server, protocol, agent, card, pcsc, pins, notify, simulator, cli.
Under systemd socket activation (LISTEN_FDS) the agent listens on the passed socket.
`;

/** How the CLI's commands reach their implementations; absent when only the definitions are wanted (man page). */
interface Runner {
  readonly io: CliIo;
  /** The exit code an action sets. */
  code: number;
}

function simulateOptions(cmd: Command, withPin: boolean): void {
  cmd
    .addOption(new Option('--simulate', 'serve a built-in virtual OpenPGP card (User PIN 123456) instead of PC/SC cards'))
    .addOption(new Option('--simulate-algo <algorithm>', 'key algorithm of the virtual card (with --simulate)').choices(SIM_ALGORITHMS_FOR_SSH))
    .addOption(new Option('--simulate-state <file>', 'where the virtual card keeps its keys (with --simulate; default $XDG_STATE_HOME/openpgp-card-agent/)'));
  if (withPin) {
    cmd.addOption(
      new Option('--no-simulate-pin', "with --simulate: don't hand the virtual card's PIN to the agent; it must come from ssh-add -s or the keychain"),
    );
  }
}

/** Options that only mean something with --simulate are refused without it. */
function checkSimulateOptions(cmd: Command): void {
  if (cmd.getOptionValue('simulate') === true) return;
  for (const [key, flag] of [
    ['simulateAlgo', '--simulate-algo'],
    ['simulateState', '--simulate-state'],
    ['simulatePin', '--no-simulate-pin'],
  ] as const) {
    if (cmd.getOptionValueSource(key) === 'cli') cmd.error(`error: option '${flag}' needs --simulate`, { exitCode: EXIT.USAGE });
  }
}

/** A short edit distance, for "did you mean" after a mistyped command. */
function distance(a: string, b: string): number {
  const d = Array.from({ length: a.length + 1 }, (_, i) => [i, ...Array<number>(b.length).fill(0)]);
  for (let j = 1; j <= b.length; j++) d[0]![j] = j;
  for (let i = 1; i <= a.length; i++) {
    for (let j = 1; j <= b.length; j++) {
      d[i]![j] = Math.min(d[i - 1]![j]! + 1, d[i]![j - 1]! + 1, d[i - 1]![j - 1]! + (a[i - 1] === b[j - 1] ? 0 : 1));
    }
  }
  return d[a.length]![b.length]!;
}

function unknownCommand(program: Command, name: string): never {
  const names = program.commands.map((c) => c.name());
  const near = names.filter((n) => distance(n, name) <= Math.max(1, Math.floor(n.length / 3)));
  const hint = near.length > 0 ? `\n(Did you mean ${near.join(', ')}?)` : '';
  program.error(`error: unknown command '${name}'${hint}\nSee 'openpgp-card-agent --help' for the commands.`, {
    code: 'commander.unknownCommand',
    exitCode: EXIT.USAGE,
  });
}

/**
 * The command definitions (options, help). With a runner, each command runs its
 * implementation and leaves its exit code in `runner.code`; without one (the man page and shell
 * completion generator) nothing runs.
 */
export function buildProgram(runner?: Runner, output?: { writeOut: (s: string) => void; writeErr: (s: string) => void }): Command {
  const program = new Command().name('openpgp-card-agent');
  // Inherited by the subcommands created below: set first.
  program.exitOverride().enablePositionalOptions().showSuggestionAfterError(true);
  if (output !== undefined) program.configureOutput(output);
  /** A command that prints its own report: logging down to warnings, then its exit code (nothing without a runner: --help, tests). */
  const reporting = async (run: (io: CliIo) => Promise<number>): Promise<void> => {
    if (runner === undefined) return;
    quietLogging(runner.io);
    runner.code = await run(runner.io);
  };
  program
    .description('An ssh-agent whose keys live on OpenPGP smartcards.')
    .version(packageVersion(), '-V, --version', 'print the version and exit')
    .helpOption('-h, --help', 'show this help')
    .helpCommand('help [command]', 'show the help of a command')
    .addOption(new Option('-H, --host <address>', 'listen on unix://PATH or \\\\.\\pipe\\NAME').conflicts('a'))
    .addOption(new Option('-a <path>', 'bind the agent to the unix socket PATH (as ssh-agent -a)'))
    .addOption(
      new Option('-s', 'start in the background, print Bourne shell commands setting SSH_AUTH_SOCK (logs to agent.log beside the socket)').conflicts('c'),
    )
    .addOption(new Option('-c', 'start in the background, print csh commands setting SSH_AUTH_SOCK (logs to agent.log beside the socket)'))
    .addOption(new Option('-k', 'kill the agent named by SSH_AGENT_PID, else the one on the socket (-a or the default)').conflicts(['D', 'host']))
    .addOption(new Option('-D', 'stay in the foreground'));
  simulateOptions(program, true);
  program
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
    .addOption(new Option('--no-prompt', 'never ask for a PIN: a card without a stored one fails with the ssh-add -s hint'))
    .addOption(new Option('--pinentry <program>', 'the pinentry to ask for PINs with (default: the one GnuPG would use, else SSH_ASKPASS)'))
    .addOption(new Option('--store-pins <when>', 'keep a PIN typed into the prompt in the keychain: ask, always or never').choices(['ask', 'always', 'never']).default('ask'))
    .addOption(new Option('--forwarded <policy>', 'requests through ssh -A: allow, confirm (ask via SSH_ASKPASS; the default) or deny').choices(FORWARDED_POLICIES))
    .addOption(
      new Option('--max-connections <n>', 'client connections open at once at most; at the limit a client stalled mid-message makes room, else newcomers are turned away')
        .default(DEFAULT_MAX_CONNECTIONS)
        .argParser(parseConnections),
    )
    .addOption(new Option('--log-format <format>', 'log lines as text or json (default: text on terminals, in files and journald)').choices(LOG_FORMATS))
    .addOption(new Option('--log-file <file>', 'log to FILE instead of stderr (appended, rotated at 1 MiB, 3 old files kept)'))
    .addOption(new Option('--ready-fd <fd>', 'write READY to this descriptor once serving').hideHelp().argParser(fdNumber))
    .addHelpText('after', EXAMPLES)
    .allowExcessArguments(true)
    .action(async (_opts: CliOptions, cmd: Command) => {
      if (cmd.args.length > 0) unknownCommand(program, cmd.args[0]!);
      checkSimulateOptions(cmd);
      if (runner !== undefined) runner.code = await runAgent(cmd.opts<CliOptions>(), runner.io);
    });

  const status = program
    .command('status')
    .description("show each card (from the running agent when one answers): key, fingerprint, where its PIN is, tries left, signature counter, bound sessions")
    .addOption(new Option('--json', 'print JSON'))
    .addOption(new Option('--no-agent', 'read the cards directly even when an agent answers'));
  simulateOptions(status, false);
  status.allowExcessArguments(false).action(async (opts: StatusCliOptions, cmd: Command) => {
    checkSimulateOptions(cmd);
    if (runner !== undefined) runner.code = await runStatusCommand(opts, runner.io);
  });

  program
    .command('doctor')
    .description('check the set-up (SSH_AUTH_SOCK, other agents, socket directory, pcscd, readers and cards, a card held by another program, PIN tries, PIN stored, scdaemon, keychain, notifications) and say how to fix what is wrong')
    .addOption(new Option('--json', 'print JSON'))
    .allowExcessArguments(false)
    .action((opts: { json?: boolean }) =>
      reporting(async (io) => {
        const { runDoctor } = await import('./commands/doctor.js');
        return runDoctor({ env: io.env, json: opts.json === true, stdout: io.stdout });
      }),
    );

  program
    .command('gpg')
    .description('OpenPGP signatures by the card, for git (gpg.program); takes gpg\'s options: see openpgp-card-agent gpg --help')
    .helpOption(false)
    .allowUnknownOption()
    .allowExcessArguments();

  const service = program
    .command('service')
    .description('start the agent with your session: systemd user units, a launchd agent, or a Windows Startup entry')
    .allowExcessArguments(false);
  const install = service
    .command('install')
    .description('write the units (socket-activated on systemd) and enable them; prints what it wrote and the SSH_AUTH_SOCK line for your shell profile')
    .addOption(new Option('--no-start', 'only write the files; print the commands that enable and start them'));
  simulateOptions(install, false);
  install
    .addOption(new Option('--no-notify', 'the agent sends no desktop notifications'))
    .allowExcessArguments(false)
    .action((opts: ServiceCliOptions, cmd: Command) => {
      checkSimulateOptions(cmd);
      return reporting(async (io) => {
        const { serviceInstall } = await import('./commands/service.js');
        return serviceInstall({ env: io.env, stdout: io.stdout, start: opts.start !== false, daemonArgs: daemonArgsOf(opts) });
      });
    });
  service
    .command('uninstall')
    .description('stop the agent started at login and remove the files `service install` wrote (only those)')
    .addOption(new Option('--no-start', 'only remove the files; do not call systemctl/launchctl'))
    .allowExcessArguments(false)
    .action((opts: { start?: boolean }) =>
      reporting(async (io) => {
        const { serviceUninstall } = await import('./commands/service.js');
        return serviceUninstall({ env: io.env, stdout: io.stdout, start: opts.start !== false });
      }),
    );
  service
    .command('status')
    .description('show which start-up files are installed, and whether the agent answers on its socket')
    .allowExcessArguments(false)
    .action(() =>
      reporting(async (io) => {
        const { serviceStatus } = await import('./commands/service.js');
        return serviceStatus({ env: io.env, stdout: io.stdout });
      }),
    );
  return program;
}

function parseSeconds(value: string): number {
  const n = Number(value);
  if (!/^\d+(\.\d+)?$/.test(value.trim()) || !Number.isFinite(n) || n > 86_400) {
    throw new InvalidArgumentError('a number of seconds from 0 to 86400');
  }
  return n;
}

function parseConnections(value: string): number {
  const n = Number(value);
  if (!/^\d{1,6}$/.test(value.trim()) || n < 1) throw new InvalidArgumentError('a number of connections from 1 to 999999');
  return n;
}

function fdNumber(value: string): string {
  if (!/^\d{1,4}$/.test(value) || Number(value) < 3) throw new ConfigError(`--ready-fd needs a descriptor number of 3 or more, not "${value}"`);
  return value;
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
  return claimListenAddress(defaultListenAddress(env), { warn: (m) => getLogger('cli').warn(m) });
}

interface DaemonArgOptions {
  readonly simulate?: boolean;
  readonly simulateAlgo?: string;
  readonly simulateState?: string;
  readonly notify?: boolean;
  readonly simulatePin?: boolean;
  readonly cardIdleLock?: number;
  readonly cardWait?: number;
  readonly forwarded?: ForwardedPolicy;
  readonly prompt?: boolean;
  readonly pinentry?: string;
  readonly storePins?: 'ask' | 'always' | 'never';
  readonly maxConnections?: number;
}

/** The options the background daemon (or a service unit) must be started with again. */
function daemonArgsOf(opts: DaemonArgOptions): string[] {
  const args: string[] = [];
  if (opts.simulate === true) args.push('--simulate', '--simulate-algo', opts.simulateAlgo ?? 'ed25519');
  if (opts.simulate === true && opts.simulateState !== undefined) args.push('--simulate-state', opts.simulateState);
  if (opts.notify === false) args.push('--no-notify');
  if (opts.simulatePin === false) args.push('--no-simulate-pin');
  if (opts.cardIdleLock !== undefined) args.push('--card-idle-lock', String(opts.cardIdleLock));
  if (opts.cardWait !== undefined) args.push('--card-wait', String(opts.cardWait));
  if (opts.forwarded !== undefined) args.push('--forwarded', opts.forwarded);
  if (opts.prompt === false) args.push('--no-prompt');
  if (opts.pinentry !== undefined) args.push('--pinentry', opts.pinentry);
  if (opts.storePins !== undefined && opts.storePins !== 'ask') args.push('--store-pins', opts.storePins);
  if (opts.maxConnections !== undefined && opts.maxConnections !== DEFAULT_MAX_CONNECTIONS) args.push('--max-connections', String(opts.maxConnections));
  return args;
}

function shellOf(opts: CliOptions, env: NodeJS.ProcessEnv): ShellSyntax {
  if (opts.c === true) return 'csh';
  if (opts.s === true) return 'sh';
  return shellFromEnv(env);
}

/**
 * ssh-agent without -D forks: `eval "$(ssh-agent)"` returns. We stay in the foreground by
 * default (a terminal, a supervisor), but a run whose stdout is captured by a shell, with no -D,
 * no passed socket and no service manager around, goes to the background as -s would.
 */
function detachesWhenCaptured(opts: CliOptions, io: CliIo, address: ListenAddress): boolean {
  if (opts.D === true || opts.s === true || opts.c === true || address.kind === 'fd') return false;
  if (io.stdoutKind !== 'pipe' && io.stdoutKind !== 'socket') return false;
  return !underServiceManager(io.env) && process.platform !== 'win32';
}

/** The log output of the daemon: a rotating file with --log-file, else stderr as fits it. */
async function daemonLogOutput(opts: CliOptions, io: CliIo): Promise<LogOutput> {
  if (opts.logFile === undefined) return defaultLogOutput(io.env, io.isTty, opts.logFormat);
  const { RotatingFile } = await import('../log-file.js');
  return { format: opts.logFormat ?? 'text', style: 'file', destination: new RotatingFile(opts.logFile) };
}

/** The agent itself: foreground daemon, background start (-s/-c or captured), or -k. */
async function runAgent(opts: CliOptions, io: CliIo): Promise<number> {
  if (opts.k === true) {
    quietLogging(io);
    const { killAgent } = await import('./commands/kill.js');
    const where = opts.a !== undefined ? parseSocketPath(opts.a) : defaultListenAddress(io.env);
    const socketPath = where.kind === 'unix' ? where.path : undefined;
    return killAgent({ env: io.env, shell: shellOf(opts, io.env), stdout: io.stdout, socketPath });
  }
  configureLogging(io.env, await daemonLogOutput(opts, io));
  const address = resolveAddress(opts, io.env);
  const background = ((opts.s === true || opts.c === true) && opts.D !== true) || detachesWhenCaptured(opts, io, address);
  if (background) {
    if (address.kind === 'fd') throw new ConfigError('-s/-c cannot be used under systemd socket activation');
    const { startBackground } = await import('./commands/start-background.js');
    return startBackground({
      address,
      shell: shellOf(opts, io.env),
      env: io.env,
      stdout: io.stdout,
      stderr: io.stderr,
      daemonArgs: daemonArgsOf(opts),
      logFormat: opts.logFormat,
    });
  }
  const printEnv = opts.s === true || opts.c === true ? shellOf(opts, io.env) : undefined;
  const simulate =
    opts.simulate === true ? { algorithm: (opts.simulateAlgo ?? 'ed25519') as SimAlgorithm, statePath: opts.simulateState, presetPin: opts.simulatePin !== false } : undefined;
  const { runDaemon } = await import('./commands/daemon.js');
  return runDaemon({
    address,
    env: io.env,
    stdout: io.stdout,
    ...(printEnv === undefined ? {} : { printEnv }),
    ...(simulate === undefined ? {} : { simulate }),
    ...(opts.readyFd === undefined ? {} : { readyFd: Number(opts.readyFd) }),
    notify: opts.notify !== false,
    ...(opts.cardIdleLock === undefined ? {} : { cardIdleLockSeconds: opts.cardIdleLock }),
    ...(opts.cardWait === undefined ? {} : { cardWaitSeconds: opts.cardWait }),
    ...(opts.forwarded === undefined ? {} : { forwarded: opts.forwarded }),
    prompt: opts.prompt !== false,
    ...(opts.pinentry === undefined ? {} : { pinentry: opts.pinentry }),
    ...(opts.storePins === undefined ? {} : { storePins: opts.storePins }),
    ...(opts.maxConnections === undefined ? {} : { maxConnections: opts.maxConnections }),
  });
}

const WARN_ONLY: LogDirectives = { defaultLevel: 'warn', targets: new Map() };

/** Commands that print their own results log only warnings and errors unless DEBUG says more. */
function quietLogging(io: CliIo): void {
  configureLogging(io.env, defaultLogOutput(io.env, io.isTty), undefined, WARN_ONLY);
}

interface StatusCliOptions {
  readonly json?: boolean;
  readonly agent?: boolean;
  readonly simulate?: boolean;
  readonly simulateAlgo?: string;
  readonly simulateState?: string;
}

interface ServiceCliOptions extends DaemonArgOptions {
  readonly start?: boolean;
}

async function runStatusCommand(opts: StatusCliOptions, io: CliIo): Promise<number> {
  quietLogging(io);
  const simulate = opts.simulate === true ? { algorithm: (opts.simulateAlgo ?? 'ed25519') as SimAlgorithm, statePath: opts.simulateState } : undefined;
  const { runStatus } = await import('./commands/status.js');
  return runStatus({ env: io.env, stdout: io.stdout, json: opts.json === true, simulate, agent: opts.agent !== false });
}

/** Runs the CLI; returns the exit code. Every error ends here as one line on stderr. */
export async function run(argv: readonly string[], io: CliIo): Promise<number> {
  // gpg takes GnuPG's options (-bsau KEY ...), which commander does not parse: it gets its argv as is.
  if (argv[0] === 'gpg' || (argv[0] === 'help' && argv[1] === 'gpg')) {
    const { runGpgCommand } = await import('./commands/gpg.js');
    return runGpgCommand(argv[0] === 'gpg' ? argv.slice(1) : ['--help'], io.env);
  }
  let out = '';
  let err = '';
  const runner: Runner = { io, code: EXIT.OK };
  const program = buildProgram(runner, { writeOut: (s) => void (out += s), writeErr: (s) => void (err += s) });
  const flush = async (): Promise<void> => {
    if (out !== '') await io.stdout(out);
    if (err !== '') await io.stderr(err);
    out = err = '';
  };
  try {
    await program.parseAsync([...argv], { from: 'user' });
    await flush();
    return runner.code;
  } catch (e) {
    await flush();
    if (e instanceof CommanderError) return e.exitCode === 0 ? EXIT.OK : EXIT.USAGE;
    await io.stderr(`${errorMessage(e)}\n`);
    return exitCodeFor(e);
  }
}
