import { execFile } from 'node:child_process';
import { homedir } from 'node:os';
import { defaultListenAddress } from '../default-socket.js';
import type { DoctorContext, ExecResult } from './check.js';

/** Runs a program; undefined when it is not there (ENOENT), else its exit code and output. */
export function execProgram(file: string, args: readonly string[], opts: { env?: NodeJS.ProcessEnv; timeoutMs?: number } = {}): Promise<ExecResult | undefined> {
  return new Promise((resolve) => {
    execFile(file, [...args], { env: opts.env, timeout: opts.timeoutMs ?? 5000, encoding: 'utf8' }, (err, stdout, stderr) => {
      if (err !== null && (err as NodeJS.ErrnoException).code === 'ENOENT') {
        resolve(undefined);
        return;
      }
      const code = err === null ? 0 : typeof err.code === 'number' ? err.code : null;
      resolve({ code, stdout, stderr });
    });
  });
}

/** The context of this process. */
export function processContext(env: NodeJS.ProcessEnv): DoctorContext {
  const address = defaultListenAddress(env);
  if (address.kind === 'fd') throw new Error('unreachable: the default address is a path');
  return {
    env,
    platform: process.platform,
    uid: process.getuid?.(),
    home: env['HOME'] !== undefined && env['HOME'] !== '' ? env['HOME'] : homedir(),
    defaultAddress: address,
    exec: (file, args, opts) => execProgram(file, args, { env: opts?.env ?? env, ...(opts?.timeoutMs === undefined ? {} : { timeoutMs: opts.timeoutMs }) }),
  };
}
