import type { Socket } from 'node:net';
import { AgentError } from '../errors.js';
import { koffi, libc, NativeUnavailableError } from './ffi.js';
import { processComm } from './procfs.js';

/**
 * Who is at the other end of a unix socket, as the kernel tells it: SO_PEERCRED on Linux
 * (uid, gid and pid at connect time), getpeereid(3) on macOS and the BSDs (plus LOCAL_PEERPID
 * for the pid on macOS). OpenSSH's ssh-agent asks the same (getpeereid) and closes connections
 * from other uids.
 */
export interface PeerCredentials {
  readonly uid: number;
  readonly gid: number;
  /** Linux and macOS only. */
  readonly pid?: number;
}

/** The OS refused to tell (not a unix socket, or the call failed). */
export class PeerCredentialsError extends AgentError {
  override readonly code = 'E_PEER_CREDENTIALS';
}

/** The file descriptor under a net.Socket accepted from a unix-socket server (libuv's pipe handle), if any. */
export function socketFd(socket: Socket): number | undefined {
  const handle = (socket as unknown as { _handle?: { fd?: unknown } })._handle;
  const fd = handle?.fd;
  return typeof fd === 'number' && fd >= 0 ? fd : undefined;
}

/** SO_PEERCRED by architecture (asm-generic 17; powerpc 21; mips 18; sparc 0x40). */
function soPeercred(): number {
  switch (process.arch) {
    case 'ppc':
    case 'ppc64':
      return 21;
    case 'mips':
    case 'mipsel':
      return 18;
    default:
      return 17;
  }
}

const SOL_SOCKET_LINUX = 1;
/** macOS <sys/un.h>: SOL_LOCAL and LOCAL_PEERPID. */
const SOL_LOCAL_DARWIN = 0;
const LOCAL_PEERPID_DARWIN = 2;

type Reader = (fd: number) => PeerCredentials;
let reader: Reader | undefined;

function linuxReader(): Reader {
  const k = koffi();
  const Ucred = k.struct('oca_ucred', { pid: 'int32', uid: 'uint32', gid: 'uint32' });
  const getsockopt = libc().func('getsockopt', 'int', ['int', 'int', 'int', k.out(k.pointer(Ucred)), k.inout(k.pointer('uint32'))]);
  const name = soPeercred();
  return (fd) => {
    const cred: { pid?: number; uid?: number; gid?: number } = {};
    const len = [k.sizeof(Ucred)];
    if (getsockopt(fd, SOL_SOCKET_LINUX, name, cred, len) !== 0 || cred.uid === undefined || cred.gid === undefined) {
      throw new PeerCredentialsError(`getsockopt(SO_PEERCRED) failed (errno ${k.errno()})`);
    }
    return { uid: cred.uid, gid: cred.gid, ...(cred.pid === undefined || cred.pid <= 0 ? {} : { pid: cred.pid }) };
  };
}

function bsdReader(withPeerPid: boolean): Reader {
  const k = koffi();
  const getpeereid = libc().func('getpeereid', 'int', ['int', k.out(k.pointer('uint32')), k.out(k.pointer('uint32'))]);
  const getsockopt = withPeerPid ? libc().func('getsockopt', 'int', ['int', 'int', 'int', k.out(k.pointer('int32')), k.inout(k.pointer('uint32'))]) : undefined;
  return (fd) => {
    const uid = [0];
    const gid = [0];
    if (getpeereid(fd, uid, gid) !== 0) throw new PeerCredentialsError(`getpeereid failed (errno ${k.errno()})`);
    let pid: number | undefined;
    if (getsockopt !== undefined) {
      const out = [0];
      const len = [4];
      if (getsockopt(fd, SOL_LOCAL_DARWIN, LOCAL_PEERPID_DARWIN, out, len) === 0 && out[0]! > 0) pid = out[0];
    }
    return { uid: uid[0]!, gid: gid[0]!, ...(pid === undefined ? {} : { pid }) };
  };
}

/**
 * The credentials of the peer on unix-socket `fd`. Throws NativeUnavailableError when this OS
 * offers no way to ask (Windows, or no koffi), PeerCredentialsError when the call fails.
 */
export function peerCredentials(fd: number): PeerCredentials {
  if (reader === undefined) {
    switch (process.platform) {
      case 'linux':
        reader = linuxReader();
        break;
      case 'darwin':
        reader = bsdReader(true);
        break;
      case 'freebsd':
      case 'openbsd':
      case 'netbsd':
        reader = bsdReader(false);
        break;
      default:
        throw new NativeUnavailableError(`no way to ask for a socket peer's credentials on ${process.platform}`);
    }
  }
  return reader(fd);
}

/** The program name of `pid`: /proc/PID/comm on Linux; undefined elsewhere or when it is gone. */
export function programName(pid: number | undefined): string | undefined {
  if (pid === undefined || process.platform !== 'linux') return undefined;
  return processComm(pid) || undefined;
}

/** ssh-agent.c: a peer may talk to the agent if it runs as the agent's uid, or as root. */
export function peerAllowed(peerUid: number, ourUid: number): boolean {
  return peerUid === ourUid || peerUid === 0;
}
