import { chmodSync, lstatSync, mkdirSync, mkdtempSync, rmSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { claimListenAddress, defaultListenAddress, windowsPipeName } from '../../src/cli/default-socket.js';

const local = { onNetworkFilesystem: () => false };

describe('defaultListenAddress', () => {
  it('uses $XDG_RUNTIME_DIR/openpgp-card-agent/agent.sock', () => {
    expect(defaultListenAddress({ XDG_RUNTIME_DIR: '/run/user/1000' }, 'linux', '/tmp', local)).toEqual({
      kind: 'unix',
      path: '/run/user/1000/openpgp-card-agent/agent.sock',
    });
  });

  it('without it, a per-user directory under the temp dir; nothing is created by the lookup', () => {
    expect(defaultListenAddress({}, 'linux', '/tmp', { ...local, uid: () => 1000 })).toEqual({
      kind: 'unix',
      path: '/tmp/openpgp-card-agent-1000/agent.sock',
      sharedParent: true,
    });
    expect(defaultListenAddress({ XDG_RUNTIME_DIR: 'relative/dir' }, 'darwin', '/var/folders/x/T', { ...local, uid: () => 501 })).toMatchObject({
      path: '/var/folders/x/T/openpgp-card-agent-501/agent.sock',
    });
  });

  it('claiming makes that directory 0700 and ours, and finds it again next time', () => {
    const base = mkdtempSync(join(tmpdir(), 'oca-claim-'));
    try {
      const a = claimListenAddress(defaultListenAddress({}, 'linux', base, local));
      const b = claimListenAddress(defaultListenAddress({}, 'linux', base, local));
      expect(a).toEqual({ kind: 'unix', path: join(base, `openpgp-card-agent-${process.getuid!()}`, 'agent.sock') });
      expect(b).toEqual(a);
      const st = lstatSync(dirname((a as { path: string }).path));
      expect(st.mode & 0o777).toBe(0o700);
      expect(st.uid).toBe(process.getuid!());
    } finally {
      rmSync(base, { recursive: true, force: true });
    }
  });

  it('a directory someone else made first (or made open, or a symlink) is left alone: a fresh mkdtemp one is used, with a warning', () => {
    const base = mkdtempSync(join(tmpdir(), 'oca-claim-'));
    try {
      const squatted = join(base, 'openpgp-card-agent-1000');
      mkdirSync(squatted, { mode: 0o777 });
      chmodSync(squatted, 0o777);
      const warnings: string[] = [];
      const c = claimListenAddress(defaultListenAddress({}, 'linux', base, { ...local, uid: () => 1000 }), { uid: () => process.getuid!(), warn: (m) => warnings.push(m) });
      expect(c.kind === 'unix' && c.removeDirectory).toBe(true);
      expect((c as { path: string }).path).toMatch(new RegExp(`^${base}/openpgp-card-agent-[A-Za-z0-9]{6}/agent\\.sock$`));
      expect(warnings[0]).toMatch(/is not ours \(owner uid \d+, mode 777\)/);
      const link = join(base, 'openpgp-card-agent-2000');
      symlinkSync('/tmp', link);
      const d = claimListenAddress(defaultListenAddress({}, 'linux', base, { ...local, uid: () => 2000 }), { uid: () => 2000, warn: (m) => warnings.push(m) });
      expect(d.kind === 'unix' && d.removeDirectory).toBe(true);
      expect(warnings[1]).toMatch(/a symbolic link/);
    } finally {
      rmSync(base, { recursive: true, force: true });
    }
  });

  it('skips directories on a network filesystem, and refuses when there is no local one', () => {
    const mkdtemp = (prefix: string): string => `${prefix}X`;
    const nfsHome = (p: string): boolean => p.startsWith('/home') || p.startsWith('/run/user');
    expect(defaultListenAddress({ XDG_RUNTIME_DIR: '/run/user/1000' }, 'linux', '/home/u/tmp', { onNetworkFilesystem: nfsHome, mkdtemp, uid: () => 7 })).toEqual({
      kind: 'unix',
      path: '/tmp/openpgp-card-agent-7/agent.sock',
      sharedParent: true,
    });
    expect(() => defaultListenAddress({}, 'linux', '/tmp', { onNetworkFilesystem: () => true, mkdtemp })).toThrow(/network filesystem/);
  });

  it('uses a per-user named pipe on Windows', () => {
    expect(defaultListenAddress({ XDG_RUNTIME_DIR: '/run/user/1' }, 'win32', 'C:\\Temp', { user: () => 'alice' })).toEqual({
      kind: 'pipe',
      path: '\\\\.\\pipe\\openpgp-card-agent-alice',
    });
    expect(windowsPipeName('DOMAIN\\Bob Smith')).toBe('\\\\.\\pipe\\openpgp-card-agent-DOMAIN_Bob_Smith');
    expect(windowsPipeName('')).toBe('\\\\.\\pipe\\openpgp-card-agent-user');
  });
});
