import { chmod, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import * as openpgp from 'openpgp';
import { REPO_ROOT, type RunResult } from './agent-process.js';

/** What git signing tests run: GnuPG, git, and the shipped shim users set as git's gpg.program. */
export const GPG = '/usr/bin/gpg';
export const GPGCONF = '/usr/bin/gpgconf';
export const GIT = '/usr/bin/git';
export const GPG_SHIM = join(REPO_ROOT, 'bin/openpgp-card-agent-gpg');
export const UID = 'Card Tester <card@example.org>';

/** Throws with the program's output unless it exited 0. */
export function ok(r: RunResult, what: string): RunResult {
  if (r.code !== 0) throw new Error(`${what} exited ${r.code}:\nstdout: ${r.stdout}\nstderr: ${r.stderr}`);
  return r;
}

/** A commit object split into the signed payload and its armored signature (gpgsig header). */
export function splitSignedCommit(raw: string): { payload: string; signature: string } {
  const lines = raw.split('\n');
  const start = lines.findIndex((l) => l.startsWith('gpgsig '));
  if (start < 0) throw new Error(`commit is not signed:\n${raw}`);
  let end = start + 1;
  while (end < lines.length && lines[end]!.startsWith(' ')) end++;
  const signature = [lines[start]!.slice('gpgsig '.length), ...lines.slice(start + 1, end).map((l) => l.slice(1))].join('\n');
  return { payload: [...lines.slice(0, start), ...lines.slice(end)].join('\n'), signature: `${signature}\n` };
}

/**
 * OpenPGP.js, an implementation that is not GnuPG: does `signature` verify over `payload` with
 * the certificate? Returns the fingerprint of the certificate's primary key with the answer.
 */
export async function openPgpJsVerifies(certificate: string, payload: string, signature: string): Promise<{ fingerprint: string; verified: boolean }> {
  const key = await openpgp.readKey({ armoredKey: certificate });
  const result = await openpgp.verify({
    message: await openpgp.createMessage({ binary: new TextEncoder().encode(payload) }),
    signature: await openpgp.readSignature({ armoredSignature: signature }),
    verificationKeys: key,
    format: 'binary',
  });
  const verified = await result.signatures[0]!.verified.then(
    () => true,
    () => false,
  );
  return { fingerprint: key.getFingerprint().toUpperCase(), verified };
}

/**
 * An SSH_ASKPASS script for the agent's confirmations: records each question and answers what
 * `answer()` last set, "yes" (exit 0) or "no" (exit 1).
 */
export async function confirmScript(dir: string): Promise<{ env: Record<string, string>; answer(a: 'yes' | 'no'): Promise<void>; prompts(): Promise<string[]> }> {
  const script = join(dir, 'confirm.sh');
  const answerFile = join(dir, 'answer');
  const prompts = join(dir, 'prompts.log');
  await writeFile(prompts, '');
  await writeFile(answerFile, 'no\n');
  await writeFile(script, `#!/bin/sh\nprintf '%s\\n---\\n' "$1" >> '${prompts}'\n[ "$SSH_ASKPASS_PROMPT" = confirm ] || exit 2\nread a < '${answerFile}'\n[ "$a" = yes ] && exit 0\nexit 1\n`);
  await chmod(script, 0o700);
  return {
    env: { SSH_ASKPASS: script, SSH_ASKPASS_REQUIRE: 'force', DISPLAY: ':0' },
    answer: (a) => writeFile(answerFile, `${a}\n`),
    prompts: async () => (await readFile(prompts, 'utf8')).split('\n---\n').filter((p) => p.trim() !== ''),
  };
}

/** A shell word for `sh -c` (single quotes). */
export const shellQuote = (s: string): string => `'${s.replace(/'/g, `'\\''`)}'`;
