import { lstat, mkdir, stat, unlink } from 'node:fs/promises';
import { connect } from 'node:net';
import { dirname } from 'node:path';
import { AlreadyRunningError, ConfigError } from '../errors.js';
import type { Logger } from '../log.js';
import { filesystemOf } from '../os/network-filesystem.js';

/** sockaddr_un.sun_path is 108 bytes on Linux, including the terminating NUL. */
export const UNIX_PATH_MAX = 107;

/** What answers at a socket path: a live listener, nobody (stale socket), or no file at all. */
export type SocketProbe = 'alive' | 'refused' | 'absent';

/** Tries to connect to a unix socket or named pipe, and hangs up at once. */
export function probeSocket(path: string, timeoutMs = 2000): Promise<SocketProbe> {
  return new Promise((resolve, reject) => {
    const socket = connect({ path });
    const timer = setTimeout(() => {
      // A listener too busy to accept is still a listener.
      socket.destroy();
      resolve('alive');
    }, timeoutMs);
    socket.once('connect', () => {
      clearTimeout(timer);
      socket.destroy();
      resolve('alive');
    });
    socket.once('error', (err: NodeJS.ErrnoException) => {
      clearTimeout(timer);
      socket.destroy();
      if (err.code === 'ECONNREFUSED') resolve('refused');
      else if (err.code === 'ENOENT') resolve('absent');
      else if (err.code === 'EAGAIN') resolve('alive');
      else reject(err);
    });
  });
}

function octal(mode: number): string {
  return (mode & 0o7777).toString(8).padStart(4, '0');
}

/**
 * Makes sure `dir` exists (created 0700) and that only this user can enter it: it must be a
 * directory owned by us, with no group/other permissions. An unsuitable directory is refused,
 * never silently chmod-ed: it may be shared on purpose.
 */
export async function ensurePrivateDirectory(dir: string): Promise<void> {
  await mkdir(dir, { recursive: true, mode: 0o700 });
  const st = await stat(dir);
  if (!st.isDirectory()) throw new ConfigError(`${dir} is not a directory`);
  const uid = process.getuid?.();
  if (uid !== undefined && st.uid !== uid) {
    throw new ConfigError(`refusing to use ${dir} for the agent socket: it is owned by uid ${st.uid}, not by us (uid ${uid})`);
  }
  if ((st.mode & 0o077) !== 0) {
    throw new ConfigError(
      `refusing to use ${dir} for the agent socket: other users can reach it (mode ${octal(st.mode)}); ` +
        `use a directory only you can enter (chmod 700)`,
    );
  }
}

/**
 * Gets a unix socket path ready to listen on: a private directory, and no live agent in the
 * way. A stale socket (nobody listening) is removed; anything that is not a socket is left alone
 * and refused.
 */
export async function prepareUnixSocketPath(path: string, log: Logger): Promise<void> {
  if (Buffer.byteLength(path) > UNIX_PATH_MAX) {
    throw new ConfigError(`socket path is too long (${Buffer.byteLength(path)} bytes, at most ${UNIX_PATH_MAX}): ${path}`);
  }
  await ensurePrivateDirectory(dirname(path));
  const fs = filesystemOf(dirname(path));
  if (fs?.network === true) {
    log.warn({ path, filesystem: fs.type }, 'the socket directory is on a network filesystem; a local directory is safer (its permissions are kept by this machine)');
  }
  let st;
  try {
    st = await lstat(path);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return;
    throw err;
  }
  if (!st.isSocket()) throw new ConfigError(`refusing to replace ${path}: it exists and is not a socket`);
  const probe = await probeSocket(path);
  if (probe === 'alive') throw new AlreadyRunningError(`an agent is already listening on ${path}; refusing to start`);
  if (probe === 'refused') {
    log.info({ path }, 'removing stale socket');
    await unlink(path);
  }
}
