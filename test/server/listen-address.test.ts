import { describe, expect, it } from 'vitest';
import { ConfigError } from '../../src/errors.js';
import { isPipePath, parseHostAddress, parseSocketPath } from '../../src/server/listen-address.js';
import { SD_LISTEN_FDS_START, takeSystemdSocket } from '../../src/server/systemd.js';

describe('listen addresses', () => {
  it('parses -H unix://PATH (absolute or relative) and Windows pipes', () => {
    expect(parseHostAddress('unix:///run/user/1000/a.sock')).toEqual({ kind: 'unix', path: '/run/user/1000/a.sock' });
    expect(parseHostAddress('unix://rel/a.sock', '/home/u')).toEqual({ kind: 'unix', path: '/home/u/rel/a.sock' });
    expect(parseHostAddress('\\\\.\\pipe\\openpgp-card-agent')).toEqual({ kind: 'pipe', path: '\\\\.\\pipe\\openpgp-card-agent' });
    expect(parseHostAddress('//./pipe/x')).toEqual({ kind: 'pipe', path: '//./pipe/x' });
  });

  it('rejects other -H forms with a ConfigError', () => {
    for (const bad of ['tcp://127.0.0.1:22', '/tmp/a.sock', 'unix://', '\\\\.\\pipe\\']) {
      expect(() => parseHostAddress(bad)).toThrow(ConfigError);
    }
  });

  it('takes -a PATH relative to the working directory', () => {
    expect(parseSocketPath('a.sock', '/home/u')).toEqual({ kind: 'unix', path: '/home/u/a.sock' });
    expect(() => parseSocketPath('')).toThrow(ConfigError);
    expect(isPipePath('\\\\.\\pipe\\x')).toBe(true);
    expect(isPipePath('/tmp/pipe/x')).toBe(false);
  });
});

describe('takeSystemdSocket', () => {
  it('takes fd 3 when LISTEN_PID is ours and LISTEN_FDS >= 1, and clears the variables', () => {
    const env: NodeJS.ProcessEnv = { LISTEN_PID: '123', LISTEN_FDS: '1', LISTEN_FDNAMES: 'agent', OTHER: 'x' };
    expect(takeSystemdSocket(env, 123)).toBe(SD_LISTEN_FDS_START);
    expect(env).toEqual({ OTHER: 'x' });
  });

  it('ignores sockets meant for another process, or none', () => {
    expect(takeSystemdSocket({ LISTEN_PID: '124', LISTEN_FDS: '1' }, 123)).toBeUndefined();
    expect(takeSystemdSocket({ LISTEN_PID: '123', LISTEN_FDS: '0' }, 123)).toBeUndefined();
    expect(takeSystemdSocket({ LISTEN_PID: '123' }, 123)).toBeUndefined();
    expect(takeSystemdSocket({ LISTEN_PID: '123x', LISTEN_FDS: '1' }, 123)).toBeUndefined();
    const env = { LISTEN_PID: '124', LISTEN_FDS: '1' };
    takeSystemdSocket(env, 123);
    expect(env).toEqual({ LISTEN_PID: '124', LISTEN_FDS: '1' });
  });
});
