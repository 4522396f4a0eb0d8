import { copySecretBytes } from '../secret.js';
import { koffi, libc, NativeUnavailableError } from './ffi.js';

/**
 * The Linux kernel key retention service (keyrings(7)), through keyctl(2)/add_key(2) called as
 * raw system calls (libc's syscall(), so libkeyutils need not be installed). Only what
 * openpgp-card-state's Ephemeral PIN storage needs: keys of type "user" in the user keyring.
 * Payloads come and go as bytes the caller owns.
 */

/** Special keyring ids (linux/keyctl.h). */
export const KEY_SPEC = { THREAD: -1, PROCESS: -2, SESSION: -3, USER: -4, USER_SESSION: -5 } as const;

const KEYCTL = { SET_TIMEOUT: 15, SEARCH: 10, READ: 11, INVALIDATE: 21 } as const;

/** System call numbers per architecture (asm/unistd.h). */
const SYSCALLS: Partial<Record<NodeJS.Architecture, { addKey: number; keyctl: number }>> = {
  x64: { addKey: 248, keyctl: 250 },
  arm64: { addKey: 217, keyctl: 219 },
  riscv64: { addKey: 217, keyctl: 219 },
  loong64: { addKey: 217, keyctl: 219 },
  arm: { addKey: 309, keyctl: 311 },
  ia32: { addKey: 286, keyctl: 288 },
  ppc64: { addKey: 269, keyctl: 271 },
  s390x: { addKey: 278, keyctl: 280 },
};

const ENOKEY = 126;
const EKEYEXPIRED = 127;
const EKEYREVOKED = 128;

type Syscall = (...args: unknown[]) => number | bigint;
let syscallFn: Syscall | undefined;

function syscall(): Syscall {
  if (process.platform !== 'linux') throw new NativeUnavailableError(`the kernel keyring is Linux only (this is ${process.platform})`);
  syscallFn ??= libc().func('long syscall(long number, ...)') as Syscall;
  return syscallFn;
}

function numbers(): { addKey: number; keyctl: number } {
  const n = SYSCALLS[process.arch];
  if (n === undefined) throw new NativeUnavailableError(`no keyctl system call number known for ${process.arch}`);
  return n;
}

export class KernelKeyringError extends Error {
  constructor(
    message: string,
    readonly errno: number,
  ) {
    super(message);
  }
}

function check(r: number | bigint, what: string): number {
  const v = Number(r);
  if (v >= 0) return v;
  const errno = koffi().errno();
  throw new KernelKeyringError(`${what} failed (errno ${errno})`, errno);
}

/** The id of the "user" key with this description reachable from `keyring`, or undefined. */
export function searchKey(description: string, keyring: number = KEY_SPEC.USER): number | undefined {
  const r = syscall()(numbers().keyctl, 'int', KEYCTL.SEARCH, 'int', keyring, 'str', 'user', 'str', description, 'int', 0);
  if (Number(r) >= 0) return Number(r);
  const errno = koffi().errno();
  // Absent, timed out or revoked: the same for us, no PIN.
  if (errno === ENOKEY || errno === EKEYEXPIRED || errno === EKEYREVOKED) return undefined;
  throw new KernelKeyringError(`keyctl search for ${description} failed (errno ${errno})`, errno);
}

/** The payload of key `id` (a buffer the caller owns and wipes); undefined when it expired meanwhile. */
export function readKey(id: number): Uint8Array | undefined {
  const sc = syscall();
  const { keyctl } = numbers();
  let size = 64;
  for (;;) {
    const buf = Buffer.alloc(size);
    const r = Number(sc(keyctl, 'int', KEYCTL.READ, 'int', id, 'void *', buf, 'size_t', size));
    if (r < 0) {
      buf.fill(0);
      const errno = koffi().errno();
      if (errno === ENOKEY || errno === EKEYEXPIRED || errno === EKEYREVOKED) return undefined;
      throw new KernelKeyringError(`keyctl read of key ${id} failed (errno ${errno})`, errno);
    }
    if (r <= size) {
      const out = copySecretBytes(buf.subarray(0, r));
      buf.fill(0);
      return out;
    }
    buf.fill(0);
    size = r;
  }
}

/** Adds (or updates) a "user" key in `keyring`, expiring after `timeoutSeconds` when given. */
export function addKey(description: string, payload: Uint8Array, opts: { keyring?: number; timeoutSeconds?: number } = {}): number {
  const sc = syscall();
  const { addKey: nr, keyctl } = numbers();
  const buf = Buffer.from(payload);
  try {
    const id = check(sc(nr, 'str', 'user', 'str', description, 'void *', buf, 'size_t', buf.length, 'int', opts.keyring ?? KEY_SPEC.USER), `add_key ${description}`);
    if (opts.timeoutSeconds !== undefined) check(sc(keyctl, 'int', KEYCTL.SET_TIMEOUT, 'int', id, 'uint', Math.max(1, Math.ceil(opts.timeoutSeconds))), `keyctl timeout ${description}`);
    return id;
  } finally {
    buf.fill(0);
  }
}

/** Invalidates key `id` (it disappears at once); false when it was already gone. */
export function invalidateKey(id: number): boolean {
  const r = Number(syscall()(numbers().keyctl, 'int', KEYCTL.INVALIDATE, 'int', id));
  if (r >= 0) return true;
  const errno = koffi().errno();
  if (errno === ENOKEY || errno === EKEYEXPIRED || errno === EKEYREVOKED) return false;
  throw new KernelKeyringError(`keyctl invalidate of key ${id} failed (errno ${errno})`, errno);
}

/** Reads the "user" key `description` from the user keyring; undefined when there is none (or it expired). */
export function readUserKey(description: string): Uint8Array | undefined {
  const id = searchKey(description, KEY_SPEC.USER);
  return id === undefined ? undefined : readKey(id);
}
