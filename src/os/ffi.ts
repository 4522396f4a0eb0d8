import { createRequire } from 'node:module';
import type * as Koffi from 'koffi';
import { AgentError } from '../errors.js';

/**
 * The one place koffi (FFI with prebuilt binaries: nothing is compiled at install) is loaded.
 * Everything that calls into C — PC/SC in src/card/pcsc, and the few OS calls Node lacks in
 * src/os — gets koffi and its libraries from here, loaded on first use so that `--help`,
 * `--simulate` and the unit tests never need a native library that is not there.
 */
export type KoffiModule = typeof Koffi;
export type KoffiLibrary = Koffi.LibraryHandle;

/** A native library or function the OS does not have (no libpcsclite, an old libc, ...). */
export class NativeUnavailableError extends AgentError {
  override readonly code = 'E_NATIVE_UNAVAILABLE';
}

const require = createRequire(import.meta.url);
let koffiModule: KoffiModule | undefined;

export function koffi(): KoffiModule {
  if (koffiModule === undefined) {
    try {
      koffiModule = require('koffi') as KoffiModule;
    } catch (err) {
      throw new NativeUnavailableError(`koffi (the FFI module) could not be loaded: ${(err as Error).message}`, { cause: err });
    }
  }
  return koffiModule;
}

const libraries = new Map<string, KoffiLibrary>();

/**
 * Loads the first of `names` that the dynamic loader finds (e.g. a versioned soname, then the
 * bare one), once per process. Throws NativeUnavailableError naming what was tried.
 */
export function loadLibrary(what: string, names: readonly string[]): KoffiLibrary {
  const key = names.join('\0');
  const cached = libraries.get(key);
  if (cached !== undefined) return cached;
  const failures: string[] = [];
  for (const name of names) {
    try {
      const lib = koffi().load(name);
      libraries.set(key, lib);
      return lib;
    } catch (err) {
      if (err instanceof NativeUnavailableError) throw err;
      failures.push(`${name}: ${(err as Error).message}`);
    }
  }
  throw new NativeUnavailableError(`${what} could not be loaded (${failures.join('; ')})`);
}

/** The C library of this OS, for the few system calls Node does not offer. */
export function libc(): KoffiLibrary {
  switch (process.platform) {
    case 'linux':
      return loadLibrary('the C library', ['libc.so.6', 'libc.musl-x86_64.so.1', 'libc.so']);
    case 'darwin':
      return loadLibrary('the C library', ['libSystem.B.dylib', '/usr/lib/libSystem.B.dylib']);
    case 'freebsd':
    case 'openbsd':
      return loadLibrary('the C library', ['libc.so.7', 'libc.so']);
    default:
      throw new NativeUnavailableError(`no C library on ${process.platform}`);
  }
}
