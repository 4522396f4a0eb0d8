import { dirname, isAbsolute } from 'node:path';
import type { DoctorCheck, Finding } from './check.js';

/** Why a socket on a network filesystem is a problem, and what to do instead. */
const FIX = [
  'keep the agent socket on a local filesystem: a fixed socket path in a home that several machines share',
  "collides between them (each machine's agent replaces the other's socket file, and ssh reaches the wrong agent or none)",
  'use XDG_RUNTIME_DIR (/run/user/UID, a tmpfs per user and machine, set at login by pam_systemd):',
  '    eval "$(openpgp-card-agent -s)"   puts the socket in $XDG_RUNTIME_DIR/openpgp-card-agent/',
  'or give -a a path on a local disk or tmpfs (in a directory of mode 0700), e.g.',
  '    openpgp-card-agent -s -a /tmp/openpgp-card-agent-$(id -u)/agent.sock',
];

/**
 * The agent's socket directory (SSH_AUTH_SOCK's, and the default socket's) on a network or FUSE
 * filesystem (NFS, CIFS, sshfs, ...; src/os/network-filesystem.ts): a home shared between
 * machines makes fixed socket paths collide.
 */
export const socketFilesystemCheck: DoctorCheck = {
  id: 'socket-filesystem',
  title: 'socket directory',
  async run(ctx): Promise<Finding> {
    if (ctx.platform === 'win32') return { verdict: 'skip', summary: 'the agent listens on a named pipe here, not in a directory' };
    const places: Array<{ what: string; dir: string }> = [];
    const sock = ctx.env['SSH_AUTH_SOCK'];
    if (sock !== undefined && isAbsolute(sock)) places.push({ what: "SSH_AUTH_SOCK's directory", dir: dirname(sock) });
    places.push({ what: "the default socket's directory", dir: dirname(ctx.defaultAddress.path) });
    const runtime = ctx.env['XDG_RUNTIME_DIR'];
    if (runtime !== undefined && isAbsolute(runtime)) places.push({ what: 'XDG_RUNTIME_DIR', dir: runtime });
    const seen = new Set<string>();
    const local: string[] = [];
    const network: string[] = [];
    let unknown = 0;
    for (const p of places) {
      if (seen.has(p.dir)) continue;
      seen.add(p.dir);
      const fs = ctx.filesystemOf(p.dir);
      if (fs === undefined) unknown++;
      else if (fs.network) network.push(`${p.what} ${p.dir} is on ${fs.type}, a network or FUSE filesystem`);
      else local.push(`${p.what} ${p.dir}: ${fs.type}`);
    }
    if (network.length > 0) {
      const runtimeMoved = runtime !== undefined && network.some((n) => n.startsWith('XDG_RUNTIME_DIR '));
      return {
        verdict: 'warn',
        summary: network[0]!,
        detail: [
          ...network.slice(1),
          ...(runtimeMoved ? [`so the agent does not put its default socket there, but in ${dirname(ctx.defaultAddress.path)}`] : []),
          ...local,
        ],
        fix: FIX,
      };
    }
    if (local.length === 0 && unknown > 0) return { verdict: 'skip', summary: 'the filesystem type cannot be told on this system' };
    return { verdict: 'ok', summary: 'the socket directories are on local filesystems', detail: local };
  },
};
