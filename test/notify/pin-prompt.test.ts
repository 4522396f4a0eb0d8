import { existsSync } from 'node:fs';
import { chmod, mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import pino from 'pino';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { describePinRequest, PinPromptError, PinPromptUnavailableError, UserPinPrompt, type PinAnswer, type PinRequest } from '../../src/notify/pin-prompt.js';
import { findPinentry, pinentryProgramFromConf } from '../../src/notify/pinentry.js';

const SCRIPT = join(dirname(fileURLToPath(import.meta.url)), 'fixtures', 'scripted-pinentry.mjs');
const silent = pino({ level: 'silent' });

const REQ: PinRequest = { ident: '0006:12345678', nickname: 'work key', retriesLeft: 3, host: 'github.com', minLength: 6, maxLength: 127 };

async function until(cond: () => Promise<boolean>): Promise<void> {
  // Waits for the scripted program to reach a point (it writes its log as it goes).
  for (let i = 0; i < 500 && !(await cond()); i++) await new Promise((r) => setTimeout(r, 10));
}

const pinOf = (a: PinAnswer): string => (a === 'cancelled' ? 'cancelled' : a.pin.revealString());

describe('PIN prompt through a pinentry (Assuan)', () => {
  let dir: string;
  let program: string;
  let logPath: string;
  const sent = async (): Promise<string[]> => (existsSync(logPath) ? (await readFile(logPath, 'utf8')).trim().split('\n') : []);

  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'oca-pinentry-'));
    program = join(dir, 'pinentry');
    logPath = join(dir, 'log');
    await writeFile(program, `#!/bin/sh\nexec "${process.execPath}" "${SCRIPT}"\n`);
    await chmod(program, 0o755);
  });
  afterEach(async () => rm(dir, { recursive: true, force: true }));

  const prompt = (env: Record<string, string>, opts: Partial<ConstructorParameters<typeof UserPinPrompt>[0]> = {}) =>
    new UserPinPrompt({ env: { PATH: process.env['PATH'], FAKE_PINENTRY_LOG: logPath, GPG_TTY: '/dev/pts/7', TERM: 'xterm', LANG: 'C.UTF-8', ...env }, log: silent, pinentry: program, store: 'never', ...opts });

  it('names the card, nickname, host and tries; returns the PIN (percent escapes decoded)', async () => {
    const answer = await prompt({ FAKE_PINENTRY_PINS: '12%45\n6' }).askPin(REQ);
    expect(answer).toMatchObject({ store: false });
    expect(pinOf(answer)).toBe('12%45\n6');
    const lines = await sent();
    expect(lines).toContain('OPTION ttyname=/dev/pts/7');
    expect(lines).toContain('OPTION ttytype=xterm');
    expect(lines).toContain('OPTION lc-ctype=C.UTF-8');
    expect(lines).toContain('SETKEYINFO --clear');
    expect(lines).toContain('SETTITLE openpgp-card-agent');
    expect(lines).toContain('SETPROMPT PIN:');
    const desc = lines.find((l) => l.startsWith('SETDESC '));
    expect(desc).toBe('SETDESC Enter the User PIN of OpenPGP card 0006:12345678 ("work key") to sign for github.com.%0A3 tries left before the card blocks its PIN.');
    expect(lines.some((l) => l.startsWith('SETERROR'))).toBe(false);
    expect(lines.at(-1)).toBe('BYE');
  });

  it('says plainly when it is the last try', async () => {
    await prompt({ FAKE_PINENTRY_PINS: '123456' }).askPin({ ...REQ, retriesLeft: 1, nickname: undefined, host: undefined });
    const lines = await sent();
    expect(lines.find((l) => l.startsWith('SETDESC '))).toBe('SETDESC Enter the User PIN of OpenPGP card 0006:12345678 to sign.%0AThis is the LAST try: a wrong PIN blocks the card.');
    expect(lines).toContain('SETERROR Last try: a wrong PIN blocks the card.');
    expect(describePinRequest({ ...REQ, retriesLeft: 2 }).lastTry).toBe(false);
  });

  it('a cancelled prompt answers "cancelled", distinct from an error', async () => {
    expect(await prompt({ FAKE_PINENTRY_PINS: 'CANCEL' }).askPin(REQ)).toBe('cancelled');
    const failing = join(dir, 'broken');
    await writeFile(failing, '#!/bin/sh\necho "ERR 1 no"\n');
    await chmod(failing, 0o755);
    await expect(prompt({}, { pinentry: failing }).askPin(REQ)).rejects.toThrow(PinPromptError);
  });

  it('a PIN of the wrong length is asked again with the reason, and never returned', async () => {
    const answer = await prompt({ FAKE_PINENTRY_PINS: '12,123456' }).askPin(REQ);
    expect(pinOf(answer)).toBe('123456');
    expect((await sent()).filter((l) => l.startsWith('SETERROR'))).toEqual(['SETERROR The PIN must have 6 to 127 characters (that one had 2); it was not sent to the card.']);
    await expect(prompt({ FAKE_PINENTRY_PINS: '1,2,3' }).askPin(REQ)).rejects.toThrow(/wrong length 3 times/);
  });

  it('"keep it in the keychain?": asked with CONFIRM when store is ask; always/never answer without asking', async () => {
    expect(await prompt({ FAKE_PINENTRY_PINS: '123456', FAKE_PINENTRY_CONFIRM: 'yes' }, { store: 'ask' }).askPin(REQ)).toMatchObject({ store: true });
    expect(await sent()).toContain('CONFIRM');
    expect(await prompt({ FAKE_PINENTRY_PINS: '123456', FAKE_PINENTRY_CONFIRM: 'no' }, { store: 'ask' }).askPin(REQ)).toMatchObject({ store: false });
    await rm(logPath);
    expect(await prompt({ FAKE_PINENTRY_PINS: '123456' }, { store: 'always' }).askPin(REQ)).toMatchObject({ store: true });
    expect(await sent()).not.toContain('CONFIRM');
  });

  it('one prompt per card: a second caller waits for the open prompt and gets the same PIN (its own copy)', async () => {
    const gate = join(dir, 'gate');
    const p = prompt({ FAKE_PINENTRY_PINS: '654321', FAKE_PINENTRY_GATE: gate });
    const first = p.askPin(REQ);
    await until(async () => (await sent()).includes('waiting'));
    const second = p.askPin({ ...REQ, ident: '0006:12345678 ' });
    await writeFile(gate, '');
    const [a, b] = await Promise.all([first, second]);
    expect((await sent()).filter((l) => l === 'GETPIN')).toHaveLength(1);
    expect(pinOf(a)).toBe('654321');
    expect(pinOf(b)).toBe('654321');
    if (a !== 'cancelled') a.pin.wipe();
    expect(pinOf(b)).toBe('654321');
    // Once answered, the next request prompts again.
    await rm(logPath);
    expect(pinOf(await p.askPin(REQ))).toBe('654321');
    expect((await sent()).filter((l) => l === 'GETPIN')).toHaveLength(1);
  });

  it('a prompt nobody answers is cancelled after the timeout', async () => {
    const answer = await prompt({ FAKE_PINENTRY_PINS: '123456', FAKE_PINENTRY_GATE: join(dir, 'never') }, { timeoutMs: 300 }).askPin(REQ);
    expect(answer).toBe('cancelled');
  });

  it('finds pinentry the way GnuPG does: gpg-agent.conf pinentry-program, then the default', async () => {
    const gnupg = join(dir, 'gnupg');
    await mkdir(gnupg);
    await writeFile(join(gnupg, 'gpg-agent.conf'), `# comment\npinentry-program /nonexistent/old\npinentry-program ${program}\n`);
    expect(pinentryProgramFromConf(join(gnupg, 'gpg-agent.conf'))).toBe(program);
    expect(findPinentry({ GNUPGHOME: gnupg }, [])).toBe(program);
    expect(findPinentry({ GNUPGHOME: join(dir, 'none') }, ['/nonexistent/a', program])).toBe(program);
    expect(findPinentry({ GNUPGHOME: join(dir, 'none') }, ['/nonexistent/a'])).toBeUndefined();
    // Without GNUPGHOME (or with it empty): HOME/.gnupg.
    await mkdir(join(dir, '.gnupg'));
    await writeFile(join(dir, '.gnupg', 'gpg-agent.conf'), `pinentry-program ${program}\n`);
    expect(findPinentry({ HOME: dir }, [])).toBe(program);
    expect(findPinentry({ GNUPGHOME: '', HOME: dir }, [])).toBe(program);
    const viaConf = new UserPinPrompt({ env: { GNUPGHOME: gnupg, FAKE_PINENTRY_PINS: '111111', PATH: process.env['PATH'], DISPLAY: ':0' }, log: silent, store: 'never', pinentryDefaults: [] });
    expect(viaConf.method()).toEqual({ kind: 'pinentry', program });
    expect(pinOf(await viaConf.askPin(REQ))).toBe('111111');
    // Without a graphical session the agent (a daemon, no terminal) does not try the pinentry
    // GnuPG would pick: pinentry-curses could not ask. An explicit --pinentry is used as given.
    const noDisplay = new UserPinPrompt({ env: { GNUPGHOME: gnupg, PATH: process.env['PATH'] }, log: silent, store: 'never', pinentryDefaults: [], askpassDefaults: [] });
    expect(noDisplay.method().kind).toBe('none');
    expect(new UserPinPrompt({ env: {}, log: silent, pinentry: program, askpassDefaults: [] }).method()).toEqual({ kind: 'pinentry', program });
  });
});

describe('PIN prompt through SSH_ASKPASS', () => {
  let dir: string;
  let logPath: string;

  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'oca-askpass-'));
    logPath = join(dir, 'log');
  });
  afterEach(async () => rm(dir, { recursive: true, force: true }));

  async function askpass(body: string): Promise<string> {
    const path = join(dir, 'askpass');
    await writeFile(path, `#!/bin/sh\nprintf '%s|%s\\n' "$SSH_ASKPASS_PROMPT" "$1" >> '${logPath}'\n${body}\n`);
    await chmod(path, 0o755);
    return path;
  }
  const prompt = (program: string, opts: Partial<ConstructorParameters<typeof UserPinPrompt>[0]> = {}) =>
    new UserPinPrompt({ env: { SSH_ASKPASS: program, DISPLAY: ':0', SSH_ASKPASS_PROMPT: 'stale' }, log: silent, usePinentry: false, store: 'never', ...opts });

  it('runs $SSH_ASKPASS with the description (no SSH_ASKPASS_PROMPT) and reads the first line', async () => {
    const answer = await prompt(await askpass("printf '123456\\nignored\\n'")).askPin(REQ);
    expect(pinOf(answer)).toBe('123456');
    const log = await readFile(logPath, 'utf8');
    expect(log).toContain('|openpgp-card-agent: Enter the User PIN of OpenPGP card 0006:12345678 ("work key") to sign for github.com.\n3 tries left before the card blocks its PIN.\nPIN:');
    expect(log.startsWith('|')).toBe(true);
  });

  it('exit status non-zero is a cancel; store=ask asks a confirm question', async () => {
    expect(await prompt(await askpass('exit 1')).askPin(REQ)).toBe('cancelled');
    const answer = await prompt(await askpass('[ "$SSH_ASKPASS_PROMPT" = confirm ] && exit 0; echo 123456'), { store: 'ask' }).askPin(REQ);
    expect(answer).toMatchObject({ store: true });
    expect(await readFile(logPath, 'utf8')).toContain('confirm|Keep the PIN of card 0006:12345678 in the keychain?');
  });

  it('two callers, one askpass run', async () => {
    const gate = join(dir, 'gate');
    const p = prompt(await askpass(`while [ ! -e '${gate}' ]; do sleep 0.02; done; echo 222333`));
    const first = p.askPin(REQ);
    await until(async () => existsSync(logPath));
    const second = p.askPin(REQ);
    await writeFile(gate, '');
    const answers = await Promise.all([first, second]);
    expect(answers.map(pinOf)).toEqual(['222333', '222333']);
    expect((await readFile(logPath, 'utf8')).trim().split('\n').filter((l) => l.startsWith('|'))).toHaveLength(1);
  });

  it('no way to ask at all is PinPromptUnavailableError', async () => {
    const p = new UserPinPrompt({ env: {}, log: silent, usePinentry: false, askpassDefaults: [] });
    expect(p.method()).toMatchObject({ kind: 'none' });
    await expect(p.askPin(REQ)).rejects.toThrow(PinPromptUnavailableError);
  });
});
