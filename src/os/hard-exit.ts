import { libc, loadLibrary } from './ffi.js';

/**
 * Ends the process at once, without waiting for threads. Node's process.exit() joins every
 * worker and libuv thread; a PC/SC call blocked in C (a hung pcscd) never returns, so it would
 * wait for ever. This is the way out once everything that matters (sockets, cards, logs) is done:
 * _exit(2) on Unix, TerminateProcess on Windows. Logs must be written synchronously before.
 */
export function hardExit(code: number): never {
  try {
    if (process.platform === 'win32') {
      const kernel32 = loadLibrary('kernel32', ['kernel32.dll']);
      const getCurrentProcess = kernel32.func('__stdcall', 'GetCurrentProcess', 'void *', []) as () => unknown;
      const terminate = kernel32.func('__stdcall', 'TerminateProcess', 'int', ['void *', 'uint32_t']) as (h: unknown, c: number) => number;
      terminate(getCurrentProcess(), code);
    } else {
      const exit = libc().func('void _exit(int)') as (c: number) => void;
      exit(code);
    }
  } catch {
    // No FFI (then no PC/SC thread can be blocked either): fall through.
  }
  process.exit(code);
}
