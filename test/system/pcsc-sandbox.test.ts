import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { chmod, copyFile, readFile, readdir, symlink, writeFile } from 'node:fs/promises';
import { connect } from 'node:net';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { cleanEnv, cleanupSystem, makeTempDir, runCli, runProgram } from './harness/agent-process.js';
import { IP, NSENTER, PcscSandbox, SANDBOX, UNSHARE, describeWithSandbox } from './harness/pcsc-sandbox.js';

const PCSC_SCAN = '/usr/bin/pcsc_scan';
const SETPRIV = '/usr/bin/setpriv';
const READERS = ['OCA Virtual Reader 00 00', 'OCA Virtual Reader 00 01'];

/** The readers a PC/SC client with `env` sees (pcsc_scan -r), or the client's error. */
async function readers(env: Record<string, string>): Promise<string[] | string> {
  const r = await runProgram(PCSC_SCAN, ['-r'], { env: cleanEnv(env) });
  if (r.code !== 0) return `${r.stdout}${r.stderr}`.trim();
  return r.stdout
    .split('\n')
    .map((l) => /^\d+: (.*)$/.exec(l)?.[1])
    .filter((l): l is string => l !== undefined);
}

/** What a unix socket says to a new connection. */
function hello(path: string): Promise<string> {
  return new Promise((resolve, reject) => {
    let got = '';
    const s = connect({ path });
    s.setEncoding('utf8').on('data', (d: string) => (got += d));
    s.once('error', reject);
    s.once('close', () => resolve(got));
  });
}

/** Is `pid` a running process (not gone, not a zombie waiting to be reaped)? */
function alive(pid: number): boolean {
  let stat: string;
  try {
    stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  } catch {
    return false;
  }
  return !/\) [ZX] /.test(stat);
}

async function until(what: string, check: () => boolean): Promise<void> {
  for (let i = 0; !check(); i++) {
    if (i > 500) throw new Error(`timed out waiting until ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

/** Processes whose command line names `dir`, and mounts (in any process's view) of paths under it. */
async function leftovers(dir: string): Promise<string[]> {
  const found: string[] = [];
  for (const pid of (await readdir('/proc')).filter((p) => /^\d+$/.test(p))) {
    if (Number(pid) === process.pid) continue;
    const cmdline = await readFile(`/proc/${pid}/cmdline`, 'utf8').catch(() => '');
    if (cmdline.includes(dir)) found.push(`process ${pid}: ${cmdline.replaceAll('\0', ' ')}`);
    const mounts = await readFile(`/proc/${pid}/mountinfo`, 'utf8').catch(() => '');
    for (const m of mounts.split('\n').filter((l) => l.includes(dir))) found.push(`mount in ${pid}'s namespace: ${m}`);
  }
  return found;
}

async function netnsList(prefix: readonly string[] = []): Promise<string[]> {
  const argv = [...prefix, IP, 'netns', 'list'];
  const r = await runProgram(argv[0]!, argv.slice(1));
  return r.stdout.split('\n').map((l) => l.split(' ')[0]!).filter((l) => l !== '');
}

/**
 * The sandbox on a user's machine: the user's own pcscd, its socket and pid file, survive
 * everything a sandbox does; sandboxes run side by side; stop leaves nothing behind.
 *
 * "The user's machine" is a mount namespace of its own whose /run/pcscd is a temp dir, in which a
 * pcscd-like listener (its process name is pcscd, so `pkill -x pcscd` would hit it) owns
 * pcscd.comm and pcscd.pid; the sandbox script runs inside that namespace (nsenter), so it sees
 * that /run/pcscd as the machine's. The real machine's /run/pcscd is never touched by this test.
 */
describeWithSandbox('scripts/pcsc-sandbox: a private pcscd that leaves the machine\'s pcscd alone', [NSENTER, PCSC_SCAN, SETPRIV], () => {
  let userRun: string;
  let user: ChildProcess;
  let userMountNs: string[];
  const sandboxes: PcscSandbox[] = [];
  // A pcscd the machine runs, if any: it must outlive every test here too.
  let machinePcscd: number | undefined;

  async function sandbox(opts: { prefix?: readonly string[] } = {}): Promise<PcscSandbox> {
    const sb = await PcscSandbox.start(opts);
    sandboxes.push(sb);
    return sb;
  }

  async function expectUserPcscdIntact(): Promise<void> {
    expect(user.exitCode).toBeNull();
    expect(alive(user.pid!)).toBe(true);
    expect((await readFile(join(userRun, 'pcscd.pid'), 'utf8')).trim()).toBe(String(user.pid));
    expect(await hello(join(userRun, 'pcscd.comm'))).toBe('the user pcscd\n');
    if (machinePcscd !== undefined) expect(alive(machinePcscd)).toBe(true);
  }

  beforeAll(async () => {
    const pidText = await readFile('/run/pcscd/pcscd.pid', 'utf8').catch(() => '');
    if (pidText !== '' && alive(Number(pidText))) machinePcscd = Number(pidText);

    userRun = await makeTempDir('oca-user-run-');
    const bin = await makeTempDir('oca-user-bin-');
    await symlink(process.execPath, join(bin, 'pcscd')); // the process name (comm) is pcscd
    const listener = `
      const fs = require('node:fs');
      const server = require('node:net').createServer((c) => c.end('the user pcscd\\n'));
      server.listen('/run/pcscd/pcscd.comm', () => {
        fs.writeFileSync('/run/pcscd/pcscd.pid', process.pid + '\\n');
        console.log('listening');
      });`;
    user = spawn(UNSHARE, ['--mount', '--propagation', 'private', '--', '/bin/sh', '-c', 'mount --bind "$0" /run/pcscd && exec "$1" -e "$2"', userRun, join(bin, 'pcscd'), listener], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    await new Promise<void>((resolve, reject) => {
      let err = '';
      user.stdout!.on('data', (d: Buffer) => (d.toString().includes('listening') ? resolve() : undefined));
      user.stderr!.on('data', (d: Buffer) => (err += d.toString()));
      user.once('exit', (code) => reject(new Error(`the user's pcscd exited (${code}): ${err}`)));
    });
    expect((await readFile(`/proc/${user.pid}/comm`, 'utf8')).trim()).toBe('pcscd');
    userMountNs = [NSENTER, `--mount=/proc/${user.pid}/ns/mnt`, '--'];
  });

  afterAll(async () => {
    for (const sb of sandboxes) await sb.stop().catch(() => undefined);
    user?.kill('SIGKILL');
    await cleanupSystem();
  });

  it("start, card, restart-pcscd, kill-pcscd, start-pcscd, uncard and stop leave the user's pcscd, socket and pid file alone", async () => {
    await expectUserPcscdIntact();
    const sb = await sandbox({ prefix: userMountNs });
    expect(sb.socketPath).toBe(join(sb.dir, 'run/pcscd.comm'));
    expect((await readFile(join(sb.dir, 'socket-path'), 'utf8')).trim()).toBe(sb.socketPath);
    await expectUserPcscdIntact();

    await sb.card(0, 'card-a', '--algo', 'ed25519');
    // A client given the sandbox's socket sees the sandbox's readers, and only those.
    expect(await readers(sb.env())).toEqual(READERS);
    await expectUserPcscdIntact();

    const before = await sb.pid('pcscd');
    await sb.restartPcscd();
    expect(await sb.pid('pcscd')).not.toBe(before);
    expect(alive(before)).toBe(false);
    expect(await readers(sb.env())).toEqual(READERS);
    await expectUserPcscdIntact();

    await sb.killPcscd();
    expect(await readers(sb.env())).not.toEqual(READERS);
    await expectUserPcscdIntact();
    await sb.startPcscd();
    expect(await readers(sb.env())).toEqual(READERS);

    await sb.uncard(0);
    await expectUserPcscdIntact();
    const pcscd = await sb.pid('pcscd');
    const ns = await sb.netns();
    expect(await netnsList(userMountNs)).toContain(ns);
    await sb.stop();
    await sb.stop(); // idempotent
    await expectUserPcscdIntact();
    expect(alive(pcscd)).toBe(false);
    expect(await netnsList(userMountNs)).not.toContain(ns);
    expect(await netnsList()).not.toContain(ns);
    expect(await leftovers(sb.dir)).toEqual([]);
  });

  it("the private pcscd's view: the sandbox's run dir as /run/pcscd, no hotplug drivers, its own quickack network namespace", async () => {
    const sb = await sandbox();
    await sb.card(0, 'card-a', '--algo', 'ed25519');
    const pcscd = await sb.pid('pcscd');
    const inPcscd = async (...argv: string[]): Promise<string> => (await runProgram(NSENTER, [`--mount=/proc/${pcscd}/ns/mnt`, '--', ...argv])).stdout;
    // pcscd writes its pid NUL-terminated.
    expect((await inPcscd('/bin/cat', '/run/pcscd/pcscd.pid')).replace(/[^0-9]/g, '')).toBe(String(pcscd));
    // No USB driver bundle: the user's real readers are not grabbed by the private pcscd.
    expect(await inPcscd('/bin/ls', '-A', '/usr/lib/pcsc/drivers')).toBe('');
    expect(await readFile(join(sb.dir, 'reader.conf'), 'utf8')).toContain(`LIBPATH      ${sb.dir}/lib/libifdvpcd.so`);
    // Our own view of /run/pcscd did not change.
    expect(await readFile('/proc/self/mountinfo', 'utf8')).not.toContain(sb.dir);

    const netOf = (pid: number | string): Promise<string> => runProgram('/usr/bin/readlink', [`/proc/${pid}/ns/net`]).then((r) => r.stdout.trim());
    const card = await sb.pid(0);
    expect(await netOf(pcscd)).toBe(await netOf(card));
    expect(await netOf(pcscd)).not.toBe(await netOf('self'));
    const routes = await runProgram(IP, ['netns', 'exec', await sb.netns(), IP, 'route', 'show', 'table', 'local']);
    expect(routes.stdout).toMatch(/local 127\.0\.0\.1 .*quickack 1/);
    await sb.stop();
    expect(await leftovers(sb.dir)).toEqual([]);
  });

  it('two sandboxes run at once, each with its own card; stopping one leaves the other serving', async () => {
    const machineRun = async (): Promise<string[]> => (await readdir('/run/pcscd').catch(() => [])).sort();
    const machineRunBefore = await machineRun();
    const [a, b] = await Promise.all([sandbox(), sandbox()]);
    await Promise.all([a!.card(0, 'card', '--algo', 'ed25519'), b!.card(0, 'card', '--algo', 'p256')]);
    expect(await a!.netns()).not.toBe(await b!.netns());
    expect(a!.socketPath).not.toBe(b!.socketPath);

    const cards = async (sb: PcscSandbox): Promise<Array<{ ident: string; key?: unknown }>> => {
      const r = await runCli(['status', '--json'], { env: cleanEnv(sb.env()) });
      expect(r.code).toBe(0);
      return (JSON.parse(r.stdout) as { cards: Array<{ ident: string }> }).cards;
    };
    const serialOf = async (sb: PcscSandbox): Promise<string> =>
      ((JSON.parse(await readFile(sb.statePath('card'), 'utf8')) as { serial: number }).serial.toString(16).toUpperCase().padStart(8, '0'));
    const [serialA, serialB] = [await serialOf(a!), await serialOf(b!)];
    expect(serialA).not.toBe(serialB);
    const [cardsA, cardsB] = await Promise.all([cards(a!), cards(b!)]);
    expect(cardsA.map((c) => c.ident)).toEqual([expect.stringMatching(new RegExp(`:${serialA}$`))]);
    expect(cardsB.map((c) => c.ident)).toEqual([expect.stringMatching(new RegExp(`:${serialB}$`))]);
    expect(JSON.stringify(cardsA)).toMatch(/ed25519/i);
    expect(JSON.stringify(cardsB)).toMatch(/nistp256|p-?256/i);

    await b!.stop();
    expect(await leftovers(b!.dir)).toEqual([]);
    expect((await cards(a!)).map((c) => c.ident)).toEqual(cardsA.map((c) => c.ident));
    await a!.stop();
    expect(await leftovers(a!.dir)).toEqual([]);
    // Run directly on this machine, neither sandbox put anything into (or took anything from) its /run/pcscd.
    expect(await machineRun()).toEqual(machineRunBefore);
    if (machinePcscd !== undefined) expect(alive(machinePcscd)).toBe(true);
  });

  it("after a crash: a stale socket of its own is replaced, a pid file whose pid now belongs to someone else is not killed", async () => {
    const sb = await sandbox({ prefix: userMountNs });
    await sb.card(0, 'card-a', '--algo', 'ed25519');
    const crashed = await sb.pid('pcscd');
    process.kill(crashed, 'SIGKILL');
    await until('the killed pcscd is gone', () => !alive(crashed));
    expect(existsSync(sb.socketPath)).toBe(true); // pcscd had no chance to remove it
    await sb.startPcscd();
    expect(await readers(sb.env())).toEqual(READERS);

    // The card's pid file now names the user's pcscd (as if the pid had been reused after a crash).
    await writeFile(join(sb.dir, 'card-1.pid'), `${user.pid} 1\n`);
    await sb.stop();
    await expectUserPcscdIntact();
    expect(await leftovers(sb.dir)).toEqual([]);
  });

  it('a network namespace it did not create is neither used nor deleted', async () => {
    const dir = await makeTempDir('oca-pcsc-');
    const foreign = `oca-foreign-${process.pid}`;
    await runProgram(IP, ['netns', 'add', foreign]);
    try {
      const env = cleanEnv({ OCA_PCSC_NETNS: foreign });
      const r = await runProgram(SANDBOX, ['start', dir], { env });
      expect(r.code).toBe(1);
      expect(r.stderr).toContain(`network namespace ${foreign} exists and was not created by this sandbox`);
      expect((await runProgram(SANDBOX, ['stop', dir], { env })).code).toBe(0);
      expect(await netnsList()).toContain(foreign);
    } finally {
      await runProgram(IP, ['netns', 'del', foreign]);
    }
  });

  it('says it needs root, and does nothing, when not run as root', async () => {
    const dir = join(await makeTempDir('oca-pcsc-'), 'sandbox');
    // A copy nobody (uid 65534) can read and run: the checkout itself may sit in a 0700
    // directory (mktemp -d), where running it would fail with 126 before the script says anything.
    const open = await makeTempDir('oca-pcsc-script-');
    await chmod(open, 0o755);
    const script = join(open, 'pcsc-sandbox');
    await copyFile(SANDBOX, script);
    await chmod(script, 0o755);
    const r = await runProgram(SETPRIV, ['--reuid=65534', '--regid=65534', '--clear-groups', script, 'start', dir]);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('needs root');
    expect(existsSync(dir)).toBe(false);
  });
});
