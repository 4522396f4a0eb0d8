import { spawn } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { chmod, mkdir, stat, writeFile } from 'node:fs/promises';
import { userInfo } from 'node:os';
import { dirname, join } from 'node:path';
import { afterAll, expect, it } from 'vitest';
import { REPO_ROOT, cleanEnv, cleanupSystem, makeTempDir, runCli, runProgram } from './harness/agent-process.js';
import { SSH_ADD, describeWithTools } from './harness/sshd.js';
import { windowsPipeName } from '../../src/cli/default-socket.js';

const SYSTEMD_ANALYZE = '/usr/bin/systemd-analyze';
const ACTIVATE = '/usr/bin/systemd-socket-activate';
const MANPATH = `${join(REPO_ROOT, 'dist', 'man')}:`;

afterAll(async () => {
  await cleanupSystem();
});

/** A unit file's `Key=value` settings (the last one wins; enough for the units we write). */
function unitSettings(text: string): Map<string, string> {
  const m = new Map<string, string>();
  for (const line of text.split('\n')) {
    const eq = line.indexOf('=');
    if (eq > 0 && !line.startsWith('#') && !line.startsWith('[')) m.set(line.slice(0, eq), line.slice(eq + 1));
  }
  return m;
}

/** ExecStart's words, as systemd.service(5) splits and unescapes them (quotes, \\, %%, $$). */
function execWords(line: string): string[] {
  const words: string[] = [];
  const re = /"((?:[^"\\]|\\.)*)"|(\S+)/g;
  for (const m of line.matchAll(re)) {
    const raw = m[1] !== undefined ? m[1].replace(/\\(.)/g, '$1') : m[2]!;
    words.push(raw.replace(/%%/g, '%').replace(/\$\$/g, '$'));
  }
  return words;
}

interface Session {
  readonly home: string;
  readonly runtime: string;
  readonly unitDir: string;
  readonly env: NodeJS.ProcessEnv;
}

async function session(): Promise<Session> {
  const home = await makeTempDir('oca-service-');
  const runtime = join(home, 'run');
  await mkdir(runtime, { mode: 0o700 });
  const config = join(home, 'config');
  return {
    home,
    runtime,
    unitDir: join(config, 'systemd', 'user'),
    env: cleanEnv({ HOME: home, XDG_CONFIG_HOME: config, XDG_RUNTIME_DIR: runtime, XDG_STATE_HOME: join(home, 'state'), SHELL: '/bin/bash' }),
  };
}

describeWithTools('service install: systemd user units', [SYSTEMD_ANALYZE, ACTIVATE, SSH_ADD, '/usr/bin/man'], () => {
  it('writes units systemd-analyze verifies; started as the socket unit says, the agent serves ssh-add', async () => {
    const s = await session();
    const state = join(s.home, 'virtual card %1.json');
    const r = await runCli(['service', 'install', '--no-start', '--simulate', '--simulate-state', state, '--no-notify'], { env: s.env });
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    const socketUnit = join(s.unitDir, 'openpgp-card-agent.socket');
    const serviceUnit = join(s.unitDir, 'openpgp-card-agent.service');
    expect(r.stdout.split('\n')).toEqual([
      `wrote ${socketUnit}  (systemd socket unit)`,
      `wrote ${serviceUnit}  (systemd service unit)`,
      '',
      'To start it now and at every login, run:',
      '  systemctl --user daemon-reload',
      '  systemctl --user enable --now openpgp-card-agent.socket',
      '',
      `systemd listens on ${s.runtime}/openpgp-card-agent/agent.sock and starts the agent on the first connection.`,
      'Add this line to your shell profile:',
      '  export SSH_AUTH_SOCK="$XDG_RUNTIME_DIR/openpgp-card-agent/agent.sock"   # in ~/.profile, ~/.bashrc or ~/.zshrc',
      '',
    ]);

    // systemd's own check, with our man page findable (Documentation=man:openpgp-card-agent(1)).
    const verify = await runProgram(SYSTEMD_ANALYZE, ['--user', 'verify', socketUnit, serviceUnit], { env: cleanEnv({ MANPATH, XDG_RUNTIME_DIR: s.runtime, HOME: s.home }) });
    expect(verify).toMatchObject({ code: 0, stderr: '' });

    // Run what the units say: ListenStream (%t = XDG_RUNTIME_DIR) with DirectoryMode and
    // SocketMode, and ExecStart on the passed socket. systemd-socket-activate binds and passes the
    // socket as systemd does; the modes it cannot set are applied here, as systemd would.
    const sock = unitSettings(readFileSync(socketUnit, 'utf8'));
    expect(sock.get('SocketMode')).toBe('0600');
    const listen = sock.get('ListenStream')!.replace('%t', s.runtime);
    expect(listen).toBe(join(s.runtime, 'openpgp-card-agent', 'agent.sock'));
    await mkdir(dirname(listen), { mode: Number.parseInt(sock.get('DirectoryMode')!, 8) });
    const exec = execWords(unitSettings(readFileSync(serviceUnit, 'utf8')).get('ExecStart')!);
    expect(exec.slice(-4)).toEqual(['--simulate-state', state, '--no-notify'].length === 3 ? ['ed25519', '--simulate-state', state, '--no-notify'] : []);
    const child = spawn(ACTIVATE, ['-l', listen, ...exec], { env: s.env, stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
    try {
      await expect.poll(() => existsSync(listen), { timeout: 20_000 }).toBe(true);
      await chmod(listen, Number.parseInt(sock.get('SocketMode')!, 8));
      const list = await runProgram(SSH_ADD, ['-L'], { env: cleanEnv({ SSH_AUTH_SOCK: listen }) });
      expect(list.stderr).toBe('');
      expect(list.code).toBe(0);
      expect(list.stdout).toMatch(/^ssh-ed25519 AAAA\S+ [0-9A-F]{4}:[0-9A-F]{8}\n$/);
      expect((await stat(dirname(listen))).mode & 0o777).toBe(0o700);
      // The agent found its socket's path and left its pid beside it, so -s shows it to new shells.
      expect(readFileSync(join(dirname(listen), 'agent.pid'), 'utf8')).toBe(`${child.pid}\n`);
      const again = await runCli(['-s'], { env: s.env });
      expect(again).toMatchObject({ code: 0, stdout: `SSH_AUTH_SOCK=${listen}; export SSH_AUTH_SOCK;\nSSH_AGENT_PID=${child.pid}; export SSH_AGENT_PID;\necho Agent pid ${child.pid};\n` });
      // The journal would get text with priorities; here stderr is a pipe without JOURNAL_STREAM.
      expect(stderr).toContain('"address":"fd 3 (systemd)"');
      child.kill('SIGTERM');
      expect(await exited).toBe(0);
      expect((await stat(listen)).isSocket()).toBe(true);
      expect(existsSync(join(dirname(listen), 'agent.pid'))).toBe(false);
    } finally {
      child.kill('SIGKILL');
    }
  });

  it('refuses to overwrite a unit it did not write; uninstall removes only its own files', async () => {
    const s = await session();
    await mkdir(s.unitDir, { recursive: true });
    const mine = '[Unit]\nDescription=my own agent socket\n';
    const socketUnit = join(s.unitDir, 'openpgp-card-agent.socket');
    const serviceUnit = join(s.unitDir, 'openpgp-card-agent.service');
    await writeFile(socketUnit, mine);
    const refused = await runCli(['service', 'install', '--no-start'], { env: s.env });
    expect(refused.code).toBe(2);
    expect(refused.stderr).toBe(`openpgp-card-agent: refusing to overwrite ${socketUnit}: not written by openpgp-card-agent (move it away to install)\n`);
    expect(readFileSync(socketUnit, 'utf8')).toBe(mine);
    expect(existsSync(serviceUnit)).toBe(false);

    const status = await runCli(['service', 'status'], { env: s.env });
    expect(status.code).toBe(1);
    expect(status.stdout).toContain(`foreign    ${socketUnit}`);
    expect(status.stdout).toContain(`missing    ${serviceUnit}`);

    // Installed next to a foreign file that is not in its way, then uninstalled: ours go, theirs stays.
    await writeFile(join(s.unitDir, 'other.service'), mine);
    await writeFile(socketUnit, '');
    await runProgram('/bin/rm', [socketUnit]);
    const ok = await runCli(['service', 'install', '--no-start'], { env: s.env });
    expect(ok.code).toBe(0);
    const same = await runCli(['service', 'install', '--no-start'], { env: s.env });
    expect(same.stdout).toContain(`unchanged ${socketUnit}`);
    const installed = await runCli(['service', 'status'], { env: s.env });
    expect(installed.stdout).toContain(`installed  ${serviceUnit}`);
    expect(installed.stdout).toContain('no socket');
    expect(installed.code).toBe(0);
    await writeFile(serviceUnit, mine); // the user replaced our service unit with their own
    const un = await runCli(['service', 'uninstall', '--no-start'], { env: s.env });
    expect(un.code).toBe(0);
    expect(un.stdout).toContain(`removed ${socketUnit}`);
    expect(un.stdout).toContain(`left ${serviceUnit}: not written by openpgp-card-agent`);
    expect(existsSync(socketUnit)).toBe(false);
    expect(readFileSync(serviceUnit, 'utf8')).toBe(mine);
    expect(readFileSync(join(s.unitDir, 'other.service'), 'utf8')).toBe(mine);
  });
});

describeWithTools('service install: launchd and Windows files (written here, checked by a real plist parser)', ['/usr/bin/python3'], () => {
  it('macOS: a launchd agent plist that plistlib reads, starting the agent at login on the default socket', async () => {
    const s = await session();
    let out = '';
    const { serviceInstall, serviceUninstall } = await import('../../src/cli/commands/service.js');
    // macOS has no XDG_RUNTIME_DIR: the socket goes to the per-user temporary directory.
    const code = await serviceInstall({ env: { ...s.env, XDG_RUNTIME_DIR: undefined }, stdout: async (t) => void (out += t), start: false, platform: 'darwin', daemonArgs: ['--no-notify'] });
    expect(code).toBe(0);
    const plist = join(s.home, 'Library', 'LaunchAgents', 'openpgp-card-agent.plist');
    expect(out).toContain(`wrote ${plist}  (launchd agent)`);
    expect(out).toContain(`launchctl bootstrap gui/${process.getuid?.() ?? 501} ${plist}`);
    const parsed = await runProgram('/usr/bin/python3', ['-c', 'import json, plistlib, sys; print(json.dumps(plistlib.load(open(sys.argv[1], "rb"))))', plist]);
    expect(parsed.stderr).toBe('');
    const p = JSON.parse(parsed.stdout) as { Label: string; ProgramArguments: string[]; RunAtLoad: boolean; KeepAlive: unknown; StandardErrorPath: string };
    expect(p.Label).toBe('openpgp-card-agent');
    expect(p.RunAtLoad).toBe(true);
    expect(p.KeepAlive).toEqual({ SuccessfulExit: false });
    const log = join(s.home, 'Library', 'Logs', 'openpgp-card-agent', 'agent.log');
    // This test runs the TypeScript source, so main.js is the one beside it (dist/ when built).
    expect(p.ProgramArguments.slice(1)).toEqual([expect.stringMatching(/\/cli\/main\.js$/), '-D', '-a', expect.stringMatching(/\/openpgp-card-agent-\d+\/agent\.sock$/), '--log-file', log, '--no-notify']);
    expect(p.StandardErrorPath).toBe(log);
    expect(existsSync(dirname(log))).toBe(true);
    expect(out).toMatch(/export SSH_AUTH_SOCK="\/.*\/openpgp-card-agent-\d+\/agent\.sock"/);
    let un = '';
    await serviceUninstall({ env: s.env, stdout: async (t) => void (un += t), start: false, platform: 'darwin' });
    expect(un).toContain(`removed ${plist}`);
    expect(existsSync(plist)).toBe(false);
  });

  it('Windows: a script in the Startup folder that runs the agent hidden', async () => {
    const s = await session();
    const appData = join(s.home, 'AppData', 'Roaming');
    let out = '';
    const { serviceInstall } = await import('../../src/cli/commands/service.js');
    await serviceInstall({ env: { ...s.env, APPDATA: appData, LOCALAPPDATA: join(s.home, 'Local') }, stdout: async (t) => void (out += t), start: false, platform: 'win32' });
    const script = join(appData, 'Microsoft', 'Windows', 'Start Menu', 'Programs', 'Startup', 'openpgp-card-agent.vbs');
    const text = readFileSync(script, 'utf8');
    const main = join(REPO_ROOT, 'src', 'cli', 'main.js');
    expect(text.split('\r\n')).toEqual([
      "' Written by `openpgp-card-agent service install`; `openpgp-card-agent service uninstall` removes it.",
      "' Starts openpgp-card-agent at logon, without a console window.",
      `CreateObject("WScript.Shell").Run "${process.execPath} ${main} -D --log-file ${join(s.home, 'Local', 'openpgp-card-agent', 'agent.log')}", 0, False`,
      '',
    ]);
    // The pipe the agent started by the script listens on: named for the user, as -D without -a does.
    const pipe = windowsPipeName(s.env['USERNAME'] ?? userInfo().username);
    expect(pipe).toMatch(/^\\\\\.\\pipe\\openpgp-card-agent-./);
    expect(out).toContain(`[Environment]::SetEnvironmentVariable('SSH_AUTH_SOCK', '${pipe}', 'User')`);
  });
});
