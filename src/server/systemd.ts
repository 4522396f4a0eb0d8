/** sd_listen_fds(3): passed sockets start at this descriptor. */
export const SD_LISTEN_FDS_START = 3;

/**
 * The socket systemd passed us, if any (sd_listen_fds(3)): LISTEN_PID must name this process
 * and LISTEN_FDS be at least 1. Like sd_listen_fds(unset_environment=1), the variables are
 * removed so that child processes do not mistake the sockets for theirs.
 */
export function takeSystemdSocket(env: NodeJS.ProcessEnv = process.env, pid = process.pid): number | undefined {
  const listenPid = env['LISTEN_PID'];
  const listenFds = env['LISTEN_FDS'];
  if (listenPid === undefined || listenFds === undefined) return undefined;
  if (!/^\d+$/.test(listenPid) || Number(listenPid) !== pid) return undefined;
  if (!/^\d+$/.test(listenFds) || Number(listenFds) < 1) return undefined;
  delete env['LISTEN_PID'];
  delete env['LISTEN_FDS'];
  delete env['LISTEN_FDNAMES'];
  return SD_LISTEN_FDS_START;
}
