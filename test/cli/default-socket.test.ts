import { describe, expect, it } from 'vitest';
import { defaultListenAddress } from '../../src/cli/default-socket.js';

describe('defaultListenAddress', () => {
  it('uses $XDG_RUNTIME_DIR/openpgp-card-agent/agent.sock', () => {
    expect(defaultListenAddress({ XDG_RUNTIME_DIR: '/run/user/1000' }, 'linux', 1000, '/tmp')).toEqual({
      kind: 'unix',
      path: '/run/user/1000/openpgp-card-agent/agent.sock',
    });
  });

  it('falls back to a per-user directory under the temp dir', () => {
    expect(defaultListenAddress({}, 'linux', 1000, '/tmp')).toEqual({ kind: 'unix', path: '/tmp/openpgp-card-agent-1000/agent.sock' });
    expect(defaultListenAddress({ XDG_RUNTIME_DIR: 'relative/dir' }, 'darwin', 501, '/var/folders/x')).toEqual({
      kind: 'unix',
      path: '/var/folders/x/openpgp-card-agent-501/agent.sock',
    });
  });

  it('uses a named pipe on Windows', () => {
    expect(defaultListenAddress({ XDG_RUNTIME_DIR: '/run/user/1' }, 'win32', undefined, 'C:\\Temp')).toEqual({
      kind: 'pipe',
      path: '\\\\.\\pipe\\openpgp-card-agent',
    });
  });
});
