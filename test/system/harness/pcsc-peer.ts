import { spawn, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import { REPO_ROOT, cleanEnv, runProgram, type RunResult } from './agent-process.js';
import type { PcscSandbox } from './pcsc-sandbox.js';

/** Debian's python3 with python3-pyscard: an independent PC/SC client for "another application". */
export const PYTHON3 = '/usr/bin/python3';
const SCRIPT = join(REPO_ROOT, 'test/system/harness/pcsc-peer.py');

/** Runs `pcsc-peer.py ARGS` against the sandbox's pcscd (see the script for the commands). */
export async function pcscPeer(sandbox: PcscSandbox, ...args: string[]): Promise<RunResult> {
  const r = await runProgram(PYTHON3, [SCRIPT, ...args], { env: cleanEnv(sandbox.env()) });
  if (r.code !== 0) throw new Error(`pcsc-peer ${args.join(' ')} failed (${r.code}): ${r.stderr}`);
  return r;
}

/**
 * Starts `pcsc-peer.py hold-exclusive|hold-transaction READER` and resolves once it holds the
 * card. `release()` lets go (ends the transaction, or kills the exclusive holder).
 */
export async function pcscHolder(sandbox: PcscSandbox, kind: 'hold-exclusive' | 'hold-transaction', reader: string): Promise<{ release(): Promise<void>; child: ChildProcess }> {
  const child = spawn(PYTHON3, [SCRIPT, kind, reader], { env: cleanEnv(sandbox.env()), stdio: ['pipe', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  child.stdout!.setEncoding('utf8').on('data', (s: string) => (out += s));
  child.stderr!.setEncoding('utf8').on('data', (s: string) => (err += s));
  await new Promise<void>((resolve, reject) => {
    const onData = (): void => {
      if (out.includes('holding')) resolve();
    };
    child.stdout!.on('data', onData);
    child.once('exit', (code) => reject(new Error(`pcsc-peer ${kind} exited ${code}: ${err}`)));
  });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  return {
    child,
    release: async () => {
      if (kind === 'hold-transaction') child.stdin!.end();
      else child.kill('SIGKILL');
      await exited;
    },
  };
}
