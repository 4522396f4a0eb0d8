import { spawn } from 'node:child_process';
import { accessSync, constants, realpathSync, writeSync } from 'node:fs';
import { readFile, writeFile } from 'node:fs/promises';
import { delimiter, join } from 'node:path';
import type { GpgIo } from '../../gpg/io.js';
import { runGpg } from '../../gpg/run.js';

/** The process's stdin, stdout, stderr and status fds as the gpg front end wants them. */
export function processGpgIo(env: NodeJS.ProcessEnv): GpgIo {
  const write = (stream: NodeJS.WriteStream, data: Uint8Array | string): Promise<void> => new Promise((resolve, reject) => stream.write(data, (err) => (err ? reject(err) : resolve())));
  return {
    env,
    readStdin: async () => {
      const chunks: Buffer[] = [];
      for await (const c of process.stdin) chunks.push(c as Buffer);
      return Uint8Array.from(Buffer.concat(chunks));
    },
    writeStdout: (d) => write(process.stdout, d),
    writeStderr: (t) => write(process.stderr, t),
    writeFd: async (fd, text) => {
      if (fd === 1) return write(process.stdout, text);
      if (fd === 2) return write(process.stderr, text);
      const b = Buffer.from(text);
      for (let off = 0; off < b.length; ) off += writeSync(fd, b, off);
    },
    readFile: async (p) => Uint8Array.from(await readFile(p)),
    writeFile: (p, d) => writeFile(p, d),
    now: () => Math.floor(Date.now() / 1000),
    runGnupg: (program, args) =>
      new Promise((resolve, reject) => {
        const child = spawn(program, [...args], { stdio: 'inherit', env: { ...env, OPENPGP_CARD_AGENT_GPG_HANDOVER: '1' } });
        child.once('error', reject);
        child.once('exit', (code) => resolve(code ?? 2));
      }),
  };
}

/** An executable `name` on PATH that is not this program itself. */
export function findOnPath(env: NodeJS.ProcessEnv, name: string): string | undefined {
  const self = [process.argv[1]].filter((p): p is string => p !== undefined).map((p) => safeRealpath(p));
  for (const dir of (env['PATH'] ?? '').split(delimiter)) {
    if (dir === '') continue;
    const candidate = join(dir, name);
    try {
      accessSync(candidate, constants.X_OK);
    } catch {
      continue;
    }
    if (!self.includes(safeRealpath(candidate))) return candidate;
  }
  return undefined;
}

function safeRealpath(p: string): string {
  try {
    return realpathSync(p);
  } catch {
    return p;
  }
}

/** `openpgp-card-agent gpg ARGS` / `openpgp-card-agent-gpg ARGS`. */
export async function runGpgCommand(argv: readonly string[], env: NodeJS.ProcessEnv): Promise<number> {
  return runGpg(argv, processGpgIo(env), (name) => findOnPath(env, name));
}
