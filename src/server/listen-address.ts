import { resolve } from 'node:path';
import { ConfigError } from '../errors.js';

/** Where the server listens. */
export type ListenAddress =
  /**
   * removeDirectory: the directory was made for this socket (mkdtemp) and goes when the server
   * stops. sharedParent: a default path under a shared temp directory, to be claimed (checked as
   * ours) before listening (cli/default-socket.ts).
   */
  | { readonly kind: 'unix'; readonly path: string; readonly removeDirectory?: boolean; readonly sharedParent?: boolean }
  | { readonly kind: 'pipe'; readonly path: string }
  /** A socket passed by systemd (sd_listen_fds(3)); already bound, never unlinked by us. */
  | { readonly kind: 'fd'; readonly fd: number };

const PIPE_PREFIX = /^[\\/]{2}\.[\\/]pipe[\\/]/i;

/** True for Windows named-pipe paths: `\\.\pipe\NAME` (or with forward slashes). */
export function isPipePath(s: string): boolean {
  return PIPE_PREFIX.test(s) && s.replace(PIPE_PREFIX, '').length > 0;
}

/**
 * Parses a `-H/--host` value in the form openpgp-card-ssh-agent (Rust) takes:
 * `unix://PATH` (so `unix:///run/user/1000/agent.sock`) or `\\.\pipe\NAME`.
 */
export function parseHostAddress(value: string, cwd = process.cwd()): ListenAddress {
  if (value.startsWith('unix://')) {
    const path = value.slice('unix://'.length);
    if (path === '') throw new ConfigError(`invalid host "${value}": unix:// needs a socket path`);
    return { kind: 'unix', path: resolve(cwd, path) };
  }
  if (isPipePath(value)) return { kind: 'pipe', path: value };
  throw new ConfigError(`invalid host "${value}": expected unix://PATH or \\\\.\\pipe\\NAME`);
}

/** A `-a PATH` (ssh-agent style) value: a unix socket path, or a named pipe on Windows. */
export function parseSocketPath(value: string, cwd = process.cwd()): ListenAddress {
  if (value === '') throw new ConfigError('the socket path must not be empty');
  if (isPipePath(value)) return { kind: 'pipe', path: value };
  return { kind: 'unix', path: resolve(cwd, value) };
}

/** A human-readable form for log lines and SSH_AUTH_SOCK. */
export function describeAddress(address: ListenAddress): string {
  return address.kind === 'fd' ? `fd ${address.fd} (systemd)` : address.path;
}
