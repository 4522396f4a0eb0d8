import { describe, expect, it } from 'vitest';
import { ConfigError } from '../../src/errors.js';
import { parseGpgArgs } from '../../src/gpg/args.js';
import { hashFor, purposeOf } from '../../src/gpg/commands.js';

describe('gpg-style arguments', () => {
  it("reads git 2.39's signing call (traced: --status-fd=2 -bsau KEY)", () => {
    const a = parseGpgArgs(['--status-fd=2', '-bsau', 'Test User <t@example.org>']);
    expect(a).toMatchObject({ command: 'sign', statusFd: 2, detach: true, armor: true, localUser: 'Test User <t@example.org>', rest: [] });
  });

  it("reads git 2.39's verify call (traced: --keyid-format=long --status-fd=1 --verify FILE -)", () => {
    const a = parseGpgArgs(['--keyid-format=long', '--status-fd=1', '--verify', '/tmp/.git_vtag_tmpP7vEYD', '-']);
    expect(a).toMatchObject({ command: 'verify', statusFd: 1, rest: ['/tmp/.git_vtag_tmpP7vEYD', '-'] });
  });

  it('reads the other spellings: --status-fd N, -u KEY, -uKEY, --local-user=KEY, --detach-sign --armor, -o FILE, --', () => {
    expect(parseGpgArgs(['--status-fd', '7', '--detach-sign', '--armor', '--local-user=ABCD1234'])).toMatchObject({ statusFd: 7, command: 'sign', detach: true, armor: true, localUser: 'ABCD1234' });
    expect(parseGpgArgs(['-b', '-uABCD1234', '-o', 'x.sig', '--', '-file'])).toMatchObject({ localUser: 'ABCD1234', output: 'x.sig', rest: ['-file'] });
    expect(parseGpgArgs(['--export', '--uid', 'A <a@b>', '-a'])).toMatchObject({ command: 'export', uid: 'A <a@b>', armor: true });
    expect(parseGpgArgs(['-K']).command).toBe('list-keys');
    expect(parseGpgArgs([]).command).toBe('help');
  });

  it('refuses what it does not do, with the option named', () => {
    expect(() => parseGpgArgs(['--encrypt'])).toThrow(/--encrypt/);
    expect(() => parseGpgArgs(['-e'])).toThrow(ConfigError);
    expect(() => parseGpgArgs(['--status-fd=x'])).toThrow(/file descriptor/);
    expect(() => parseGpgArgs(['-bsau'])).toThrow(/-u wants a value/);
    expect(() => parseGpgArgs(['--verify', '--export'])).toThrow(/conflicting/);
  });

  it('names what git signs, for the agent log; picks the hash GnuPG would', () => {
    expect(purposeOf(new TextEncoder().encode('tree 4b825dc6\nauthor'))).toBe('git commit');
    expect(purposeOf(new TextEncoder().encode('object 4b825dc6\ntype commit'))).toBe('git tag');
    expect(purposeOf(new TextEncoder().encode('hello'))).toBe('data');
    expect(hashFor({ algorithm: 'ecdsa', curve: 'p384', point: new Uint8Array(97) })).toBe(9);
    expect(hashFor({ algorithm: 'ecdsa', curve: 'p521', point: new Uint8Array(133) })).toBe(10);
    expect(hashFor({ algorithm: 'eddsa', curve: 'ed25519', point: new Uint8Array(32) })).toBe(8);
  });
});
