import { execFile } from 'node:child_process';
import { existsSync, realpathSync } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import { homedir } from 'node:os';
import { dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { probeSocket } from '../../server/unix-socket.js';
import { defaultListenAddress } from '../default-socket.js';
import { agentPid } from '../pid-file.js';
import { profileLine } from '../profile-line.js';
import { launchAgentPath, launchdAgent, launchdLogPath, LAUNCHD_LABEL } from '../service/launchd-agent.js';
import { ownership, removeOwnedFiles, writeOwnedFiles, type PlannedFile } from '../service/owned-file.js';
import { SERVICE_UNIT, SOCKET_UNIT, systemdUnits, userUnitDir } from '../service/systemd-units.js';
import { windowsLogPath, windowsStartup } from '../service/windows-startup.js';

export interface ServiceOptions {
  readonly env: NodeJS.ProcessEnv;
  readonly stdout: (text: string) => Promise<void>;
  /** false (--no-start): write or remove files only, and print the commands instead of running them. */
  readonly start?: boolean;
  /** Options for the agent (--simulate ...), appended to its command line. */
  readonly daemonArgs?: readonly string[];
  /** Tests: another platform's files. */
  readonly platform?: NodeJS.Platform;
}

type Kind = 'systemd' | 'launchd' | 'windows';

function kindFor(platform: NodeJS.Platform): Kind {
  if (platform === 'darwin') return 'launchd';
  if (platform === 'win32') return 'windows';
  return 'systemd';
}

function home(env: NodeJS.ProcessEnv): string {
  return env['HOME'] !== undefined && env['HOME'] !== '' ? env['HOME'] : homedir();
}

/** The agent's command line: this node and this package's main.js, in the foreground. */
function agentCommand(extra: readonly string[]): string[] {
  const main = fileURLToPath(new URL('../main.js', import.meta.url));
  return [process.execPath, existsSync(main) ? realpathSync(main) : main, '-D', ...extra];
}

interface Plan {
  readonly kind: Kind;
  readonly files: PlannedFile[];
  /** The socket (or pipe) the agent will serve. */
  readonly socket: string;
  /** Commands that make it start now and at login, and their opposites. */
  readonly startCommands: string[][];
  readonly stopCommands: string[][];
  /** Directories the agent needs (its log file's). */
  readonly dirs: string[];
}

function plan(opts: ServiceOptions): Plan {
  const platform = opts.platform ?? process.platform;
  const kind = kindFor(platform);
  const h = home(opts.env);
  const extra = opts.daemonArgs ?? [];
  if (kind === 'systemd') {
    const runtime = opts.env['XDG_RUNTIME_DIR'];
    return {
      kind,
      files: systemdUnits(userUnitDir(opts.env, h), agentCommand(extra)),
      socket: runtime !== undefined && runtime !== '' ? `${runtime}/openpgp-card-agent/agent.sock` : '$XDG_RUNTIME_DIR/openpgp-card-agent/agent.sock',
      startCommands: [
        ['systemctl', '--user', 'daemon-reload'],
        ['systemctl', '--user', 'enable', '--now', SOCKET_UNIT],
      ],
      stopCommands: [
        ['systemctl', '--user', 'disable', '--now', SOCKET_UNIT, SERVICE_UNIT],
        ['systemctl', '--user', 'daemon-reload'],
      ],
      dirs: [],
    };
  }
  if (kind === 'launchd') {
    const address = defaultListenAddress(opts.env, 'darwin');
    const socket = address.kind === 'fd' ? '' : address.path;
    const log = launchdLogPath(h);
    const uid = process.getuid?.() ?? 501;
    return {
      kind,
      files: [launchdAgent(h, agentCommand(['-a', socket, '--log-file', log, ...extra]), log)],
      socket,
      startCommands: [['launchctl', 'bootstrap', `gui/${uid}`, launchAgentPath(h)]],
      stopCommands: [['launchctl', 'bootout', `gui/${uid}/${LAUNCHD_LABEL}`]],
      dirs: [dirname(log)],
    };
  }
  const log = windowsLogPath(opts.env, h);
  const file = windowsStartup(opts.env, h, agentCommand(['--log-file', log, ...extra]));
  // The pipe the started agent listens on: its default, which names the user.
  const pipe = defaultListenAddress(opts.env, 'win32');
  return {
    kind,
    files: [file],
    socket: pipe.kind === 'fd' ? '' : pipe.path,
    startCommands: [['wscript.exe', file.path]],
    stopCommands: [],
    dirs: [dirname(log)],
  };
}

function shellWords(cmd: readonly string[]): string {
  return cmd.map((w) => (/^[\w@%+=:,./-]+$/.test(w) ? w : `'${w.replace(/'/g, `'\\''`)}'`)).join(' ');
}

function runCommand(cmd: readonly string[], env: NodeJS.ProcessEnv): Promise<{ ok: boolean; output: string }> {
  return new Promise((resolve) => {
    execFile(cmd[0]!, cmd.slice(1), { env, timeout: 30_000, encoding: 'utf8' }, (err, stdout, stderr) => {
      resolve({ ok: err === null, output: `${stdout}${stderr}`.trim() || (err?.message ?? '') });
    });
  });
}

/** `service install`: writes the files (never over someone else's), enables them, and says what it did. */
export async function serviceInstall(opts: ServiceOptions): Promise<number> {
  const p = plan(opts);
  const out: string[] = [];
  const main = agentCommand([])[1]!;
  if (/[\\/]_npx[\\/]/.test(main)) {
    out.push(`note: this copy runs from npx's cache (${main}), which npm may clean; install it first: npm install -g openpgp-card-agent`);
  }
  const written = await writeOwnedFiles(p.files);
  for (const d of p.dirs) await mkdir(d, { recursive: true, mode: 0o700 });
  for (const w of written) out.push(`${w.result === 'unchanged' ? 'unchanged' : w.result === 'updated' ? 'updated' : 'wrote'} ${w.file.path}  (${w.file.what})`);
  let code = 0;
  if (opts.start === false) {
    out.push('', 'To start it now and at every login, run:', ...p.startCommands.map((c) => `  ${shellWords(c)}`));
  } else {
    for (const c of p.startCommands) {
      const r = await runCommand(c, opts.env);
      out.push(`${r.ok ? 'ran' : 'FAILED'}: ${shellWords(c)}${r.ok || r.output === '' ? '' : `\n  ${r.output}`}`);
      if (!r.ok) {
        code = 1;
        out.push('', 'The files are in place; once the service manager is reachable, run:', ...p.startCommands.map((x) => `  ${shellWords(x)}`));
        break;
      }
    }
  }
  out.push(
    '',
    p.kind === 'systemd'
      ? `systemd listens on ${p.socket} and starts the agent on the first connection.`
      : `The agent listens on ${p.socket}${p.kind === 'windows' ? ' from the next logon' : ''}.`,
    p.kind === 'windows' ? 'Point SSH_AUTH_SOCK at it for OpenSSH for Windows (once, in PowerShell):' : 'Add this line to your shell profile:',
    `  ${profileLine(p.socket, opts.env, p.kind === 'windows' ? 'win32' : p.kind === 'launchd' ? 'darwin' : 'linux')}`,
  );
  await opts.stdout(`${out.join('\n')}\n`);
  return code;
}

/** `service uninstall`: stops the agent the service manager runs and removes only our files. */
export async function serviceUninstall(opts: ServiceOptions): Promise<number> {
  const p = plan(opts);
  const out: string[] = [];
  const anyOurs = (await Promise.all(p.files.map((f) => ownership(f.path)))).includes('ours');
  if (opts.start !== false && anyOurs) {
    for (const c of p.stopCommands.slice(0, 1)) {
      const r = await runCommand(c, opts.env);
      out.push(`${r.ok ? 'ran' : 'could not run'}: ${shellWords(c)}${r.ok || r.output === '' ? '' : ` (${r.output})`}`);
    }
  }
  for (const r of await removeOwnedFiles(p.files.map((f) => f.path))) {
    out.push(r.result === 'removed' ? `removed ${r.path}` : r.result === 'absent' ? `not installed: ${r.path}` : `left ${r.path}: not written by openpgp-card-agent`);
  }
  if (opts.start !== false && anyOurs) {
    for (const c of p.stopCommands.slice(1)) await runCommand(c, opts.env);
  } else if (anyOurs && p.stopCommands.length > 0) {
    out.push('', 'To stop the running agent, run:', ...p.stopCommands.map((c) => `  ${shellWords(c)}`));
  }
  if (p.kind === 'windows' && anyOurs) out.push('An agent started at this logon keeps running until you log off.');
  await opts.stdout(`${out.join('\n')}\n`);
  return 0;
}

/** `service status`: which files are installed, and whether the agent answers. Exit 1 when not installed. */
export async function serviceStatus(opts: ServiceOptions): Promise<number> {
  const p = plan(opts);
  const out: string[] = [];
  let complete = true;
  for (const f of p.files) {
    const o = await ownership(f.path);
    if (o !== 'ours') complete = false;
    out.push(`${o === 'ours' ? 'installed' : o === 'absent' ? 'missing  ' : 'foreign  '}  ${f.path}  (${f.what})`);
  }
  if (!p.socket.startsWith('$')) {
    let state: string;
    try {
      const probe = await probeSocket(p.socket, 2000);
      const pid = probe === 'alive' && p.kind !== 'windows' ? agentPid(p.socket) : undefined;
      state = probe === 'alive' ? `an agent answers${pid === undefined ? '' : ` (pid ${pid})`}` : probe === 'refused' ? 'dead socket: nothing listens' : 'no socket';
    } catch (err) {
      state = `cannot be reached: ${(err as Error).message}`;
    }
    out.push(`socket     ${p.socket}: ${state}`);
  }
  await opts.stdout(`${out.join('\n')}\n`);
  if (!complete) return 1;
  return 0;
}

