import { spawn, type ChildProcess } from 'node:child_process';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { probeSocket } from '../../src/server/unix-socket.js';
import { doctor, emptyHome } from './doctor-harness.js';
import { AgentProcess, cleanEnv, cleanupSystem, makeTempDir, runProgram } from './harness/agent-process.js';
import { DBUS_DAEMON, GNOME_KEYRING, KeyringSession } from './harness/keyring.js';
import { SSHD, Sshd, describeWithTools, makeKeyPair } from './harness/sshd.js';

const SSH_AGENT = '/usr/bin/ssh-agent';
const GPGCONF = '/usr/bin/gpgconf';
const GPG_CONNECT_AGENT = '/usr/bin/gpg-connect-agent';
const DBUS_SEND = '/usr/bin/dbus-send';
const NOTIFY_SEND = '/usr/bin/notify-send';
const DBUS_TEST_TOOL = '/usr/bin/dbus-test-tool';
const SSHFS = '/usr/bin/sshfs';
const FUSERMOUNT = '/usr/bin/fusermount3';
const SFTP_SERVER = '/usr/lib/openssh/sftp-server';

const children: ChildProcess[] = [];
const cleanups: Array<() => Promise<unknown>> = [];

afterAll(async () => {
  for (const c of cleanups.splice(0)) await c();
  for (const c of children.splice(0)) c.kill('SIGTERM');
  await cleanupSystem();
});

describe('doctor: SSH_AUTH_SOCK', () => {
  it('unset: fails and says how to start the agent; the text report shows the fix', async () => {
    const d = await doctor(await emptyHome());
    expect(d.code).toBe(1);
    expect(d.checks.get('ssh-auth-sock')).toMatchObject({ verdict: 'fail', summary: 'SSH_AUTH_SOCK is not set: ssh asks no agent' });
    expect(d.checks.get('ssh-auth-sock')?.fix).toContain('  openpgp-card-agent service install   (prints the line for your shell profile)');
    expect(d.text).toMatch(/^\[FAIL\] SSH_AUTH_SOCK +SSH_AUTH_SOCK is not set: ssh asks no agent$/m);
    expect(d.text).toMatch(/^ +fix: start openpgp-card-agent with your session/m);
  });

  it('this agent: ok, with its pid; a second one: a warning naming both', async () => {
    const home = await emptyHome();
    const agent = await AgentProcess.start();
    const d = await doctor({ ...home, SSH_AUTH_SOCK: agent.socketPath });
    expect(d.checks.get('ssh-auth-sock')).toMatchObject({ verdict: 'ok', summary: `points at openpgp-card-agent (${agent.socketPath}, pid ${agent.pid})` });
    const second = await AgentProcess.start();
    const two = await doctor({ ...home, SSH_AUTH_SOCK: agent.socketPath });
    const other = two.checks.get('second-agent');
    expect(other?.verdict).toBe('warn');
    expect(other?.detail).toEqual(expect.arrayContaining([`pid ${agent.pid} on ${agent.socketPath}`, `pid ${second.pid} on ${second.socketPath}`]));
    await second.stop();
    await agent.stop();
  });

  it('a dead socket (the agent was killed): fails, and points at the running agent when there is one', async () => {
    const home = await emptyHome();
    const dead = await AgentProcess.start();
    await dead.stop('SIGKILL');
    expect(await probeSocket(dead.socketPath)).toBe('refused');
    const live = await AgentProcess.start({ args: [], socketPath: join(home.XDG_RUNTIME_DIR!, 'openpgp-card-agent', 'agent.sock'), env: { XDG_RUNTIME_DIR: home.XDG_RUNTIME_DIR } });
    const d = await doctor({ ...home, SSH_AUTH_SOCK: dead.socketPath });
    const c = d.checks.get('ssh-auth-sock');
    expect(c?.verdict).toBe('fail');
    expect(c?.summary).toBe(`SSH_AUTH_SOCK=${dead.socketPath} is a dead socket: nothing listens on it (the agent that made it has exited)`);
    expect(c?.fix).toEqual([`openpgp-card-agent runs on ${live.socketPath}; point SSH_AUTH_SOCK at it:`, '  export SSH_AUTH_SOCK="$XDG_RUNTIME_DIR/openpgp-card-agent/agent.sock"   # in ~/.profile, ~/.bashrc or ~/.zshrc']);
    const missing = await doctor({ ...home, SSH_AUTH_SOCK: join(home.HOME!, 'no.sock') });
    expect(missing.checks.get('ssh-auth-sock')?.summary).toBe(`SSH_AUTH_SOCK=${join(home.HOME!, 'no.sock')}, but there is no such socket`);
    await live.stop();
  });
});

describeWithTools("doctor: SSH_AUTH_SOCK at OpenSSH's ssh-agent", [SSH_AGENT], () => {
  it('names ssh-agent by the process that listens on the socket', async () => {
    const home = await emptyHome();
    const sock = join(await makeTempDir(), 'openssh.sock');
    const child = spawn(SSH_AGENT, ['-D', '-a', sock], { env: cleanEnv(), stdio: 'ignore' });
    children.push(child);
    await expect.poll(() => probeSocket(sock), { timeout: 20_000 }).toBe('alive');
    const d = await doctor({ ...home, SSH_AUTH_SOCK: sock });
    expect(d.code).toBe(1);
    expect(d.checks.get('ssh-auth-sock')).toMatchObject({
      verdict: 'fail',
      summary: `points at OpenSSH's ssh-agent (${sock}, pid ${child.pid}), which cannot use OpenPGP cards`,
      detail: ['known by the process listening on it'],
    });
    child.kill('SIGTERM');
  });
});

describeWithTools('doctor: GnuPG', [GPGCONF, GPG_CONNECT_AGENT], () => {
  it("SSH_AUTH_SOCK at gpg-agent's ssh socket; scdaemon running without pcsc-shared: the exact lines and gpgconf --kill scdaemon", async () => {
    const home = await emptyHome();
    const gnupg = join(await makeTempDir('oca-g-'), 'h');
    await mkdir(gnupg, { mode: 0o700 });
    await writeFile(join(gnupg, 'gpg-agent.conf'), 'enable-ssh-support\n');
    await writeFile(join(gnupg, 'scdaemon.conf'), '# no pcsc-shared here\ndisable-ccid\n');
    const genv = cleanEnv({ GNUPGHOME: gnupg });
    cleanups.push(() => runProgram(GPGCONF, ['--kill', 'all'], { env: genv }));
    // gpg-agent comes up on demand and starts scdaemon for the SCD command; no card is asked for.
    const scd = await runProgram(GPG_CONNECT_AGENT, ['SCD GETINFO version', '/bye'], { env: genv });
    expect(scd.stdout).toMatch(/^D \d/m);
    const sshSock = (await runProgram(GPGCONF, ['--list-dirs', 'agent-ssh-socket'], { env: genv })).stdout.trim();
    expect(await probeSocket(sshSock)).toBe('alive');

    const d = await doctor({ ...home, GNUPGHOME: gnupg, SSH_AUTH_SOCK: sshSock });
    expect(d.code).toBe(1);
    const sock = d.checks.get('ssh-auth-sock');
    expect(sock?.verdict).toBe('fail');
    expect(sock?.summary).toMatch(new RegExp(`^points at GnuPG's gpg-agent \\(${sshSock}, pid \\d+\\), not at openpgp-card-agent$`));
    const scdaemon = d.checks.get('scdaemon');
    expect(scdaemon).toMatchObject({
      verdict: 'fail',
      summary: 'scdaemon is running without pcsc-shared: it holds the card exclusively, so this agent cannot use it',
      fix: [`add this line to ${join(gnupg, 'scdaemon.conf')}:`, '    pcsc-shared', 'then stop the running scdaemon (gpg starts it again when needed):', '    gpgconf --kill scdaemon'],
    });
    expect(d.text).toContain('gpgconf --kill scdaemon');

    // Fixed as told: the check passes.
    await writeFile(join(gnupg, 'scdaemon.conf'), 'pcsc-shared\ndisable-ccid\n');
    const fixed = await doctor({ ...home, GNUPGHOME: gnupg });
    expect(fixed.checks.get('scdaemon')?.verdict).toBe('ok');
  });
});

describeWithTools('doctor: D-Bus, keychain and notifications', [DBUS_DAEMON, DBUS_SEND, NOTIFY_SEND, GNOME_KEYRING], () => {
  it('no D-Bus session: the keychain and notifications are reported unreachable, as warnings', async () => {
    const d = await doctor(await emptyHome());
    expect(d.checks.get('keychain')?.verdict).toBe('warn');
    expect(d.checks.get('keychain')?.summary).toContain('the OS keychain is not reachable');
    expect(d.checks.get('notifications')).toMatchObject({ verdict: 'warn', summary: expect.stringMatching(/^no D-Bus session bus/) });
  });

  it('a session bus without a notification daemon, then one that can start it', async () => {
    const home = await emptyHome();
    const { address, services } = await privateBus(home);
    const none = await doctor({ ...home, DBUS_SESSION_BUS_ADDRESS: address });
    expect(none.checks.get('notifications')).toMatchObject({ verdict: 'warn', summary: 'no notification daemon on the session bus (nobody owns org.freedesktop.Notifications)' });
    // An activatable notification service, as notification-daemon or dunst install one.
    await writeFile(join(services, 'org.freedesktop.Notifications.service'), '[D-BUS Service]\nName=org.freedesktop.Notifications\nExec=/bin/false\n');
    await runProgram(DBUS_SEND, [`--bus=${address}`, '--type=method_call', '--dest=org.freedesktop.DBus', '/org/freedesktop/DBus', 'org.freedesktop.DBus.ReloadConfig'], { env: cleanEnv() });
    const some = await doctor({ ...home, DBUS_SESSION_BUS_ADDRESS: address });
    expect(some.checks.get('notifications')).toMatchObject({ verdict: 'ok', summary: 'D-Bus starts a notification daemon (org.freedesktop.Notifications) on first use' });
  });

  it('a Secret Service on the session bus: the keychain answers', async () => {
    const keyring = await KeyringSession.start();
    cleanups.push(() => keyring.stop());
    const home = await emptyHome();
    const d = await doctor({ ...home, ...keyring.env });
    expect(d.checks.get('keychain')).toMatchObject({ verdict: 'ok' });
  });
});

describeWithTools('doctor: a notification daemon on the session bus', [DBUS_DAEMON, DBUS_SEND, NOTIFY_SEND, DBUS_TEST_TOOL], () => {
  it('a program that owns org.freedesktop.Notifications: ok', async () => {
    const home = await emptyHome();
    const { address } = await privateBus(home);
    // dbus-test-tool's black hole claims the name and answers nothing: the owner is all that counts.
    const owner = spawn(DBUS_TEST_TOOL, ['black-hole', '--session', '--name=org.freedesktop.Notifications'], { env: cleanEnv({ DBUS_SESSION_BUS_ADDRESS: address }), stdio: 'ignore' });
    children.push(owner);
    const owned = async (): Promise<string> =>
      (await runProgram(DBUS_SEND, [`--bus=${address}`, '--print-reply', '--dest=org.freedesktop.DBus', '/org/freedesktop/DBus', 'org.freedesktop.DBus.NameHasOwner', 'string:org.freedesktop.Notifications'], { env: cleanEnv() })).stdout;
    await expect.poll(owned, { timeout: 20_000 }).toMatch(/boolean true/);
    const d = await doctor({ ...home, DBUS_SESSION_BUS_ADDRESS: address });
    expect(d.checks.get('notifications')).toMatchObject({ verdict: 'ok', summary: 'a notification daemon owns org.freedesktop.Notifications on the session bus' });
    owner.kill('SIGTERM');
  });
});

/** A session bus of our own (no standard service directories: nothing on this machine gets started), stopped after the tests. */
async function privateBus(home: Record<string, string>): Promise<{ address: string; services: string }> {
  const services = join(home['HOME']!, 'services');
  await mkdir(services);
  const config = join(home['HOME']!, 'bus.conf');
  await writeFile(
    config,
    `<!DOCTYPE busconfig PUBLIC "-//freedesktop//DTD D-Bus Bus Configuration 1.0//EN" "http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd">
<busconfig>
  <type>session</type>
  <listen>unix:dir=${home['XDG_RUNTIME_DIR']}</listen>
  <auth>EXTERNAL</auth>
  <servicedir>${services}</servicedir>
  <policy context="default"><allow send_destination="*" eavesdrop="true"/><allow eavesdrop="true"/><allow own="*"/></policy>
</busconfig>
`,
  );
  const bus = await runProgram(DBUS_DAEMON, [`--config-file=${config}`, '--fork', '--print-address=1', '--print-pid=1'], { env: cleanEnv(home) });
  const [address, pid] = bus.stdout.trim().split('\n');
  expect(address).toMatch(/^unix:/);
  cleanups.push(async () => process.kill(Number(pid), 'SIGTERM'));
  return { address: address!, services };
}

/**
 * A FUSE network filesystem, made real: sshfs to the test's own sshd on 127.0.0.1 (its sftp
 * subsystem is OpenSSH's sftp-server), the way a home is mounted from another machine.
 */
describeWithTools('doctor: socket directory on a network filesystem (sshfs)', [SSHFS, FUSERMOUNT, SSHD, SFTP_SERVER], () => {
  it("SSH_AUTH_SOCK and XDG_RUNTIME_DIR on sshfs: warnings that explain the collision, and where the default socket goes instead", async () => {
    const sshd = await Sshd.start();
    cleanups.push(() => sshd.stop());
    const dir = await makeTempDir('oca-fs-');
    const key = await makeKeyPair(dir);
    await sshd.authorize(key.publicLine);
    const remote = join(dir, 'remote');
    const mnt = join(dir, 'mnt');
    await mkdir(remote);
    await mkdir(mnt);
    const mount = await runProgram(
      SSHFS,
      [
        '-p', String(sshd.port), '-F', '/dev/null',
        '-o', `IdentityFile=${key.path},StrictHostKeyChecking=no,UserKnownHostsFile=/dev/null,BatchMode=yes,sftp_server=${SFTP_SERVER}`,
        `root@127.0.0.1:${remote}`, mnt,
      ],
      { env: cleanEnv() },
    );
    expect(mount.stderr).toBe('');
    expect(mount.code).toBe(0);
    // Unmounted before the temp dirs are removed (cleanups run first in afterAll).
    cleanups.unshift(() => runProgram(FUSERMOUNT, ['-u', mnt]));
    await mkdir(join(mnt, 'run'), { mode: 0o700 });
    await mkdir(join(mnt, 'ssh'), { mode: 0o700 });

    const home = await emptyHome();
    const d = await doctor({ ...home, SSH_AUTH_SOCK: join(mnt, 'ssh', 'agent.sock'), XDG_RUNTIME_DIR: join(mnt, 'run'), TMPDIR: home.HOME });
    const c = d.checks.get('socket-filesystem');
    expect(c?.verdict).toBe('warn');
    expect(c?.summary).toBe(`SSH_AUTH_SOCK's directory ${join(mnt, 'ssh')} is on fuse.sshfs, a network or FUSE filesystem`);
    expect(c?.detail).toEqual([
      `XDG_RUNTIME_DIR ${join(mnt, 'run')} is on fuse.sshfs, a network or FUSE filesystem`,
      `so the agent does not put its default socket there, but in ${join(home.HOME!, `openpgp-card-agent-${process.getuid!()}`)}`,
      expect.stringMatching(new RegExp(`^the default socket's directory ${home.HOME}/openpgp-card-agent-\\d+: \\S+$`)),
    ]);
    expect(c?.fix?.join('\n')).toContain('collides between them');
    expect(c?.fix).toContain('    eval "$(openpgp-card-agent -s)"   puts the socket in $XDG_RUNTIME_DIR/openpgp-card-agent/');
    expect(d.text).toMatch(/^\[warn\] socket directory +SSH_AUTH_SOCK's directory .* is on fuse\.sshfs/m);

    // The same home on a local disk: ok.
    const local = await doctor(home);
    expect(local.checks.get('socket-filesystem')).toMatchObject({ verdict: 'ok', summary: 'the socket directories are on local filesystems' });
  });
});
