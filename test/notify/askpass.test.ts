import { chmod, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runAskpass, type AskpassResult } from '../../src/notify/askpass.js';

describe('runAskpass: one run of SSH_ASKPASS, shared by confirm (ssh-add -c) and the PIN prompt', () => {
  let dir: string;
  let n = 0;

  /** A program with this shell body; $1 is the question. */
  async function program(body: string): Promise<string> {
    const path = join(dir, `askpass-${n++}`);
    await writeFile(path, `#!/bin/sh\n${body}\n`);
    await chmod(path, 0o700);
    return path;
  }

  const text = (r: AskpassResult): string => {
    if (r.kind !== 'answered') throw new Error(`not answered: ${JSON.stringify(r)}`);
    return new TextDecoder().decode(r.line);
  };

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'oca-askpass-run-'));
  });
  afterAll(async () => rm(dir, { recursive: true, force: true }));

  it('answers the first line (CRLF or LF), given the question as argument', async () => {
    const run = { env: {}, timeoutMs: 10_000, prompt: 'passphrase' } as const;
    expect(text(await runAskpass(await program(`printf '%s\\r\\nsecond\\n' "$1"`), 'PIN?', run))).toBe('PIN?');
    expect(text(await runAskpass(await program("printf '123456'"), 'q', run))).toBe('123456');
    expect(text(await runAskpass(await program('exit 0'), 'q', run))).toBe('');
  });

  it('sets SSH_ASKPASS_PROMPT=confirm for a question, and removes an inherited one for a passphrase', async () => {
    const prog = await program('printf "[%s]" "$SSH_ASKPASS_PROMPT"');
    const env = { SSH_ASKPASS_PROMPT: 'confirm', OTHER: 'kept' };
    expect(text(await runAskpass(prog, 'q', { env, timeoutMs: 10_000, prompt: 'passphrase' }))).toBe('[]');
    expect(text(await runAskpass(prog, 'q', { env: {}, timeoutMs: 10_000, prompt: 'confirm' }))).toBe('[confirm]');
    expect(text(await runAskpass(await program('printf "%s" "$OTHER"'), 'q', { env, timeoutMs: 10_000, prompt: 'passphrase' }))).toBe('kept');
  });

  it('a non-zero exit or a kill is no answer; a program that cannot be run says so', async () => {
    const run = { env: {}, timeoutMs: 10_000, prompt: 'confirm' } as const;
    expect(await runAskpass(await program('echo yes; exit 3'), 'q', run)).toEqual({ kind: 'no-answer', reason: 'exit status 3' });
    expect(await runAskpass(await program('kill -TERM $$'), 'q', run)).toEqual({ kind: 'no-answer', reason: 'killed by SIGTERM' });
    const missing = await runAskpass(join(dir, 'missing'), 'q', run);
    expect(missing.kind).toBe('not-run');
  });

  it('a program that never answers is killed at the timeout', async () => {
    expect(await runAskpass(await program('exec sleep 30'), 'q', { env: {}, timeoutMs: 200, prompt: 'confirm' })).toEqual({ kind: 'no-answer', reason: 'no answer within 200 ms' });
  });
});
