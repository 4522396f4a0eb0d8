import { chmod, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { askpassProgram } from '../../src/notify/askpass.js';
import { confirm } from '../../src/notify/confirm.js';

const log = pino({ level: 'silent' });

describe('confirm (ssh-add -c) through SSH_ASKPASS, as OpenSSH ssh-agent asks', () => {
  let dir: string;

  /** An askpass program that records its argument and SSH_ASKPASS_PROMPT, prints `reply`, exits `code`. */
  async function askpass(name: string, reply: string, code: number): Promise<string> {
    const path = join(dir, name);
    await writeFile(path, `#!/bin/sh\nprintf '%s\\n%s\\n' "$1" "$SSH_ASKPASS_PROMPT" > "$0.seen"\nprintf '%s' '${reply}'\nexit ${code}\n`);
    await chmod(path, 0o700);
    return path;
  }

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'oca-askpass-'));
  });
  afterAll(async () => rm(dir, { recursive: true, force: true }));

  it('runs $SSH_ASKPASS with the question as argument and SSH_ASKPASS_PROMPT=confirm; exit 0 and no text is yes', async () => {
    const prog = await askpass('ok', '', 0);
    expect(await confirm('Allow use of card key 0006:12345678?', { env: { SSH_ASKPASS: prog, DISPLAY: ':0' }, log })).toBe(true);
    expect(await readFile(`${prog}.seen`, 'utf8')).toBe('Allow use of card key 0006:12345678?\nconfirm\n');
  });

  it('"yes" (any case) is yes; a non-zero exit or any other answer is no', async () => {
    const env = (p: string) => ({ SSH_ASKPASS: p, DISPLAY: ':0' });
    expect(await confirm('q', { env: env(await askpass('yes', 'YES\n', 0)), log })).toBe(true);
    expect(await confirm('q', { env: env(await askpass('cancel', '', 1)), log })).toBe(false);
    expect(await confirm('q', { env: env(await askpass('no', 'no', 0)), log })).toBe(false);
  });

  it('refuses when there is no way to ask: no display, SSH_ASKPASS_REQUIRE=never, a missing program', async () => {
    const prog = await askpass('never-run', '', 0);
    expect(await confirm('q', { env: { SSH_ASKPASS: prog }, log })).toBe(false);
    expect(await confirm('q', { env: { SSH_ASKPASS: prog, DISPLAY: ':0', SSH_ASKPASS_REQUIRE: 'never' }, log })).toBe(false);
    await expect(readFile(`${prog}.seen`)).rejects.toThrow();
    expect(await confirm('q', { env: { SSH_ASKPASS: join(dir, 'missing'), DISPLAY: ':0' }, log })).toBe(false);
    expect(await confirm('q', { env: { DISPLAY: ':0' }, log, defaultPaths: [join(dir, 'missing')] })).toBe(false);
  });

  it('SSH_ASKPASS_REQUIRE=force asks without a display; WAYLAND_DISPLAY counts as a display', async () => {
    const prog = await askpass('forced', '', 0);
    expect(await confirm('q', { env: { SSH_ASKPASS: prog, SSH_ASKPASS_REQUIRE: 'force' }, log })).toBe(true);
    expect(askpassProgram({ SSH_ASKPASS: prog, WAYLAND_DISPLAY: 'wayland-0' })).toEqual({ program: prog });
    expect(askpassProgram({ DISPLAY: ':0' }, [prog])).toEqual({ program: prog });
  });

  it('an askpass that never answers is killed and counts as no', async () => {
    const path = join(dir, 'hang');
    await writeFile(path, '#!/bin/sh\nexec sleep 30\n');
    await chmod(path, 0o700);
    expect(await confirm('q', { env: { SSH_ASKPASS: path, DISPLAY: ':0' }, log, timeoutMs: 200 })).toBe(false);
  });
});
