import { lstatSync, mkdirSync, mkdtempSync } from 'node:fs';
import { tmpdir, userInfo } from 'node:os';
import { dirname, isAbsolute, join } from 'node:path';
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
  /** Our uid (tests pin it). */
  readonly uid?: () => number;
}

/**
 * Where the agent listens when not told (pure: nothing is created, so `-k`, `-s`'s "is one
 * running?", `doctor` and `service` all find the same place):
 * - `$XDG_RUNTIME_DIR/openpgp-card-agent/agent.sock` (a per-user tmpfs under systemd);
 * - without it (or when it is on a network filesystem): `$TMPDIR/openpgp-card-agent-<uid>/agent.sock`
 *   (macOS's TMPDIR is already per user), never on a network filesystem (then /tmp is tried,
 *   else the user must pass -a). In a shared /tmp another user could make that directory first:
 *   claimListenAddress() checks it before the daemon listens;
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
  const uid = (deps.uid ?? (() => process.getuid?.() ?? 0))();
  return { kind: 'unix', path: join(base, `${APP_NAME}-${uid}`, 'agent.sock'), sharedParent: true };
}

/**
 * Before the daemon listens on a default address under a shared temp directory: makes the
 * per-user directory (0700) or checks that the one there is ours, private and not a symlink. One
 * another user made first (to squat it, or to catch PINs) is left alone: the agent then listens
 * in a fresh private directory made like ssh-agent's mkdtemp, says so, and removes it on stop.
 */
export function claimListenAddress(address: ListenAddress, deps: DefaultSocketDeps & { readonly warn?: (message: string) => void } = {}): ListenAddress {
  if (address.kind !== 'unix' || address.sharedParent !== true) return address;
  const dir = dirname(address.path);
  const uid = (deps.uid ?? (() => process.getuid?.() ?? 0))();
  try {
    mkdirSync(dir, { mode: 0o700 });
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
  }
  const st = lstatSync(dir);
  if (st.isDirectory() && st.uid === uid && (st.mode & 0o077) === 0) return { kind: 'unix', path: address.path };
  const fresh = (deps.mkdtemp ?? ((prefix: string) => mkdtempSync(prefix)))(join(dirname(dir), `${APP_NAME}-`));
  deps.warn?.(
    `${dir} is not ours (${st.isSymbolicLink() ? 'a symbolic link' : `owner uid ${st.uid}, mode ${(st.mode & 0o777).toString(8)}`}): listening in ${fresh} instead; someone may be trying to catch your PINs`,
  );
  return { kind: 'unix', path: join(fresh, 'agent.sock'), removeDirectory: true };
}
