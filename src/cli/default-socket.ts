import { mkdtempSync } from 'node:fs';
import { tmpdir, userInfo } from 'node:os';
import { isAbsolute, join } from 'node:path';
import { ConfigError } from '../errors.js';
import { isOnNetworkFilesystem } from '../os/network-filesystem.js';
import type { ListenAddress } from '../server/listen-address.js';

export const APP_NAME = 'openpgp-card-agent';
const PIPE_PREFIX = '\\\\.\\pipe\\';

/**
 * The per-user pipe name on Windows: `\\.\pipe\openpgp-card-agent-<user>`. Node cannot set a
 * named pipe's security descriptor; libuv creates the first instance with
 * FILE_FLAG_FIRST_PIPE_INSTANCE, so a pipe another user made first makes our start fail (we
 * refuse to start rather than share it), and the default DACL gives other users no write access.
 */
export function windowsPipeName(user: string): string {
  const safe = user.replace(/[^A-Za-z0-9._-]/g, '_') || 'user';
  return `${PIPE_PREFIX}${APP_NAME}-${safe}`;
}

export interface DefaultSocketDeps {
  /** Makes a fresh private directory (mkdtemp: mode 0700, unpredictable name). */
  readonly mkdtemp?: (prefix: string) => string;
  /** True when a path is on a network or FUSE filesystem. */
  readonly onNetworkFilesystem?: (path: string) => boolean;
  /** The user name, for the Windows pipe. */
  readonly user?: () => string;
}

/**
 * Where the agent listens when not told:
 * - `$XDG_RUNTIME_DIR/openpgp-card-agent/agent.sock` (a per-user tmpfs under systemd);
 * - without it (or when it is on a network filesystem): a fresh private directory made like
 *   ssh-agent's mkdtemp, `$TMPDIR/openpgp-card-agent-XXXXXX/agent.sock`, so nobody can create it
 *   first; never on a network filesystem (then /tmp is tried, else the user must pass -a);
 * - on Windows the per-user pipe `\\.\pipe\openpgp-card-agent-<user>`.
 */
export function defaultListenAddress(
  env: NodeJS.ProcessEnv = process.env,
  platform: NodeJS.Platform = process.platform,
  tmp: string = tmpdir(),
  deps: DefaultSocketDeps = {},
): ListenAddress {
  if (platform === 'win32') return { kind: 'pipe', path: windowsPipeName((deps.user ?? (() => env['USERNAME'] ?? userInfo().username))()) };
  const onNetwork = deps.onNetworkFilesystem ?? isOnNetworkFilesystem;
  const runtime = env['XDG_RUNTIME_DIR'];
  if (runtime !== undefined && isAbsolute(runtime) && !onNetwork(runtime)) return { kind: 'unix', path: join(runtime, APP_NAME, 'agent.sock') };
  const base = [tmp, '/tmp'].find((d) => isAbsolute(d) && !onNetwork(d));
  if (base === undefined) {
    throw new ConfigError(`the temp directory (${tmp}) and /tmp are on a network filesystem; choose a local socket path with -a`);
  }
  const dir = (deps.mkdtemp ?? ((prefix: string) => mkdtempSync(prefix)))(join(base, `${APP_NAME}-`));
  return { kind: 'unix', path: join(dir, 'agent.sock'), removeDirectory: true };
}
