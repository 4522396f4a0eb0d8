import { describe, expect, it } from 'vitest';
import { libc, loadLibrary, NativeUnavailableError } from '../../src/os/ffi.js';

describe('FFI loader', () => {
  it('loads the C library once and calls into it', () => {
    if (process.platform === 'win32') return;
    const lib = libc();
    expect(libc()).toBe(lib);
    const getpid = lib.func('int getpid(void)') as () => number;
    expect(getpid()).toBe(process.pid);
  });

  it('names every library it tried when none loads', () => {
    expect(() => loadLibrary('a test library', ['liboca-nonexistent-1.so', 'liboca-nonexistent-2.so'])).toThrow(NativeUnavailableError);
    expect(() => loadLibrary('a test library', ['liboca-nonexistent-1.so', 'liboca-nonexistent-2.so'])).toThrow(
      /a test library could not be loaded \(liboca-nonexistent-1\.so: .*; liboca-nonexistent-2\.so: /,
    );
  });
});
