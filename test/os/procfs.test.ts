import { execFileSync, spawn } from 'node:child_process';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { hasProcfs, mappedFiles, processArgv, processComm, processEnviron, processesOf, processIds, processInfo, processRssKiB, processState } from '../../src/os/procfs.js';

/** A /proc stand-in: pid 10 with every file, pid 11 with a cmdline only, and entries that are not processes. */
let root: string;
beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), 'oca-procfs-'));
  const p10 = join(root, '10');
  await mkdir(p10);
  await writeFile(join(p10, 'cmdline'), 'scdaemon\0--homedir\0/home/u/my gnupg\0\0');
  await writeFile(join(p10, 'comm'), 'scdaemon\n');
  await writeFile(join(p10, 'environ'), 'HOME=/home/u\0OPTS=a=b\0=odd\0EMPTY=\0');
  await writeFile(
    join(p10, 'maps'),
    [
      '55d0-55e0 r-xp 00000000 08:01 100                        /usr/bin/scdaemon',
      '7f00-7f10 r-xp 00000000 08:01 123                        /usr/lib/x86_64-linux-gnu/libpcsclite.so.1.0.0',
      '7f10-7f20 r--p 00010000 08:01 123                        /usr/lib/x86_64-linux-gnu/libpcsclite.so.1.0.0',
      '7f20-7f30 rw-p 00000000 00:00 0 ',
      '7f30-7f40 r--p 00000000 08:01 200                        /home/u/a dir/lib x.so',
      '7ffc-7ffd rw-p 00000000 00:00 0                          [stack]',
      '',
    ].join('\n'),
  );
  await writeFile(join(p10, 'status'), 'Name:\tscdaemon\nUmask:\t0022\nState:\tT (stopped)\nTgid:\t10\nVmRSS:\t    4242 kB\n');
  await mkdir(join(root, '11'));
  await writeFile(join(root, '11', 'cmdline'), '');
  await mkdir(join(root, 'self'));
  await writeFile(join(root, 'uptime'), '1.0 1.0\n');
});
afterAll(async () => {
  await rm(root, { recursive: true, force: true });
});

describe('/proc readers', () => {
  it('lists the numeric entries as pids; none where the directory is missing', () => {
    expect(processIds(root).sort((a, b) => a - b)).toEqual([10, 11]);
    expect(processIds(join(root, 'missing'))).toEqual([]);
  });

  it('reads argv (empty arguments dropped), comm, environ, mapped files and state', () => {
    expect(processArgv(10, root)).toEqual(['scdaemon', '--homedir', '/home/u/my gnupg']);
    expect(processComm(10, root)).toBe('scdaemon');
    // Values keep their own "="; an entry without a name is dropped.
    expect(processEnviron(10, root)).toEqual({ HOME: '/home/u', OPTS: 'a=b', EMPTY: '' });
    expect(mappedFiles(10, root)).toEqual(['/usr/bin/scdaemon', '/usr/lib/x86_64-linux-gnu/libpcsclite.so.1.0.0', '/home/u/a dir/lib x.so', '[stack]']);
    expect(processState(10, root)).toBe('T (stopped)');
    expect(processRssKiB(10, root)).toBe(4242);
  });

  it('answers undefined for a file it cannot read, and for a process that is gone', () => {
    expect(processArgv(11, root)).toEqual([]);
    expect(processComm(11, root)).toBeUndefined();
    expect(processEnviron(11, root)).toBeUndefined();
    expect(mappedFiles(11, root)).toBeUndefined();
    expect(processState(11, root)).toBeUndefined();
    expect(processRssKiB(11, root)).toBeUndefined();
    expect(processArgv(99, root)).toBeUndefined();
    // processInfo needs cmdline and comm both.
    expect(processInfo(11, root)).toBeUndefined();
  });

  it.skipIf(process.platform !== 'linux')('processInfo and processesOf: the owner from the directory, processes without argv left out', () => {
    const uid = process.getuid!();
    expect(processInfo(10, root)).toEqual({ pid: 10, argv: ['scdaemon', '--homedir', '/home/u/my gnupg'], comm: 'scdaemon', uid });
    expect(processesOf(uid, root).map((p) => p.pid)).toEqual([10]);
    expect(processesOf(uid + 1, root)).toEqual([]);
  });

  it.skipIf(!hasProcfs())("reads this machine's /proc: this process, as ps sees it", () => {
    const ps = (field: string): string => execFileSync('ps', ['-o', `${field}=`, '-p', String(process.pid)], { encoding: 'utf8' }).trim();
    expect(processComm(process.pid)).toBe(ps('comm'));
    expect(processEnviron(process.pid)?.['PATH']).toBeDefined();
    expect(mappedFiles(process.pid)).toContain(execFileSync('readlink', ['-f', process.execPath], { encoding: 'utf8' }).trim());
  });

  it.skipIf(!hasProcfs())('reads the state of a process stopped with SIGSTOP', async () => {
    const child = spawn('sleep', ['600'], { stdio: 'ignore' });
    try {
      await expect.poll(() => processState(child.pid!)).toBe('S (sleeping)');
      child.kill('SIGSTOP');
      await expect.poll(() => processState(child.pid!)).toBe('T (stopped)');
    } finally {
      child.kill('SIGKILL');
    }
  });
});
