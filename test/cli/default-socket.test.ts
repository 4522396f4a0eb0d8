import { lstatSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname } from 'node:path';
import { describe, expect, it } from 'vitest';
import { defaultListenAddress, windowsPipeName } from '../../src/cli/default-socket.js';

const local = { onNetworkFilesystem: () => false };

describe('defaultListenAddress', () => {
  it('uses $XDG_RUNTIME_DIR/openpgp-card-agent/agent.sock', () => {
    expect(defaultListenAddress({ XDG_RUNTIME_DIR: '/run/user/1000' }, 'linux', '/tmp', local)).toEqual({
      kind: 'unix',
      path: '/run/user/1000/openpgp-card-agent/agent.sock',
    });
  });

  it('without it, makes a fresh private directory under the temp dir (mkdtemp), never a predictable one', () => {
    const made: string[] = [];
    const mkdtemp = (prefix: string): string => {
      made.push(prefix);
      return `${prefix}Ab12Cd`;
    };
    expect(defaultListenAddress({}, 'linux', '/tmp', { ...local, mkdtemp })).toEqual({
      kind: 'unix',
      path: '/tmp/openpgp-card-agent-Ab12Cd/agent.sock',
      removeDirectory: true,
    });
    expect(defaultListenAddress({ XDG_RUNTIME_DIR: 'relative/dir' }, 'darwin', '/var/folders/x', { ...local, mkdtemp }).kind).toBe('unix');
    expect(made).toEqual(['/tmp/openpgp-card-agent-', '/var/folders/x/openpgp-card-agent-']);
  });

  it('really makes a 0700 directory of our own, a new one each time', () => {
    const a = defaultListenAddress({}, 'linux', tmpdir());
    const b = defaultListenAddress({}, 'linux', tmpdir());
    try {
      if (a.kind !== 'unix' || b.kind !== 'unix') throw new Error('expected unix sockets');
      expect(dirname(a.path)).not.toBe(dirname(b.path));
      const st = lstatSync(dirname(a.path));
      expect(st.isDirectory()).toBe(true);
      expect(st.mode & 0o777).toBe(0o700);
      expect(st.uid).toBe(process.getuid!());
    } finally {
      for (const x of [a, b]) if (x.kind === 'unix') rmSync(dirname(x.path), { recursive: true, force: true });
    }
  });

  it('skips directories on a network filesystem, and refuses when there is no local one', () => {
    const mkdtemp = (prefix: string): string => `${prefix}X`;
    const nfsHome = (p: string): boolean => p.startsWith('/home') || p.startsWith('/run/user');
    expect(defaultListenAddress({ XDG_RUNTIME_DIR: '/run/user/1000' }, 'linux', '/home/u/tmp', { onNetworkFilesystem: nfsHome, mkdtemp })).toEqual({
      kind: 'unix',
      path: '/tmp/openpgp-card-agent-X/agent.sock',
      removeDirectory: true,
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
