import { execFile, spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { readdir, readFile } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { sshSignatureVerifier } from '../ssh/verify.js';
import { DIGEST_INFO_PREFIX } from '../wire/digest-info.js';
import { AgentClient } from '../gpg/agent-client.js';
import { processEnviron, processIds } from '../os/procfs.js';

/**
 * What no agent can beat on this machine, measured in the same run as the comparison, so the
 * ratios can be read against it:
 * - the card: one INTERNAL AUTHENTICATE through an independent PC/SC client (pyscard, in C), with
 *   no agent in between: pcscd, vpcd and the card's own signing;
 * - the check of a signature (ours checks every one before handing it out): node:crypto;
 * - the socket: an ssh-agent round trip, with the benchmark's own client, to a server that answers
 *   at once;
 * - the CPU time each process spends per signature while four clients sign at once: on two cores
 *   the sum bounds the throughput whatever the agent does.
 */

const run = promisify(execFile);
const HERE = dirname(fileURLToPath(import.meta.url));
const PEER = resolve(HERE, '../../test/system/harness/pcsc-peer.py');
/** Debian's python3, the one python3-pyscard installs into (a python3 earlier on PATH may lack it). */
const PYTHON = '/usr/bin/python3';

const OPENPGP_SELECT = '00a4040006d2760001240100';
const hex = (b: Uint8Array): string => Buffer.from(b).toString('hex');

export interface Spread {
  readonly p50: number;
  readonly p95: number;
}

const round = (v: number): number => Math.round(v * 10) / 10;

function spread(samples: number[]): Spread {
  const s = [...samples].sort((a, b) => a - b);
  const at = (p: number): number => s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))]!;
  return { p50: round(at(50)), p95: round(at(95)) };
}

/**
 * What an agent sends INTERNAL AUTHENTICATE for an SSH signature of `data` (the benchmark's
 * algorithms): EdDSA signs the message itself, ECDSA its hash, RSA (rsa-sha2-256) a DigestInfo.
 */
export function internalAuthenticateInput(algo: string, data: Uint8Array): Uint8Array {
  if (algo === 'ed25519') return data;
  const hash = { p256: 'sha256', p384: 'sha384', p521: 'sha512' }[algo];
  if (hash !== undefined) return createHash(hash).update(data).digest();
  if (algo.startsWith('rsa')) return Buffer.concat([DIGEST_INFO_PREFIX.sha256, createHash('sha256').update(data).digest()]);
  throw new Error(`no INTERNAL AUTHENTICATE input for ${algo}`);
}

/**
 * The card's time for one INTERNAL AUTHENTICATE of `input`, in microseconds, through pyscard on
 * the reader ending in `readerSuffix` (after SELECT and VERIFY PW1 82 with `pin`). `env` picks
 * the pcscd (PCSCLITE_CSOCK_NAME).
 */
export async function cardFloorUs(env: NodeJS.ProcessEnv, readerSuffix: string, pin: string, input: Uint8Array, n: number): Promise<Spread> {
  if (input.length > 255) throw new Error('the floor is measured with short APDUs');
  const verify = `00200082${Buffer.from([pin.length]).toString('hex')}${Buffer.from(pin, 'latin1').toString('hex')}`;
  const authenticate = `00880000${Buffer.from([input.length]).toString('hex')}${hex(input)}00`;
  const r = await run(PYTHON, [PEER, 'time', readerSuffix, String(n), OPENPGP_SELECT, verify, authenticate], { env, timeout: 120_000 });
  const parsed = JSON.parse(r.stdout) as Spread;
  return { p50: round(parsed.p50), p95: round(parsed.p95) };
}

/**
 * node:crypto's time to check one signature of the first key `socket` lists, in microseconds:
 * the check our agent makes before every signature leaves it (the signature comes from the agent).
 */
export async function verifyFloorUs(socket: string, flags: number, n: number): Promise<Spread> {
  const c = await AgentClient.connect(socket);
  try {
    const r = await c.request({ type: 'request-identities' });
    if (r.type !== 'identities-answer' || r.identities.length === 0) throw new Error('no key');
    const key = r.identities[0]!.keyBlob;
    const data = new Uint8Array(128).fill(7);
    const s = await c.request({ type: 'sign-request', keyBlob: key, data, flags });
    if (s.type !== 'sign-response') throw new Error('signing failed');
    const check = sshSignatureVerifier(key);
    const samples: number[] = [];
    for (let i = 0; i < 200 + n; i++) {
      const t = process.hrtime.bigint();
      const ok = check(data, s.signature);
      if (i >= 200) samples.push(Number(process.hrtime.bigint() - t) / 1e3);
      if (!ok) throw new Error('the agent returned a signature that does not verify');
    }
    return spread(samples);
  } finally {
    c.close();
  }
}

/**
 * A server, in its own process, that answers every ssh-agent request at once with an empty
 * identities answer: the round trip no agent can beat, with the benchmark's own client.
 */
const ECHO_SERVER = `
import { createServer } from 'node:net';
const answer = Buffer.from([0, 0, 0, 5, 12, 0, 0, 0, 0]);
const server = createServer((s) => {
  let held = Buffer.alloc(0);
  s.on('data', (chunk) => {
    held = Buffer.concat([held, chunk]);
    while (held.length >= 4 && held.length >= 4 + held.readUInt32BE(0)) {
      held = held.subarray(4 + held.readUInt32BE(0));
      s.write(answer);
    }
  });
});
server.listen(process.argv[1], () => process.stdout.write('listening\\n'));
`;

/** The socket floor: p50/p95 of `n` round trips to ECHO_SERVER on `path`, in microseconds. */
export async function socketFloorUs(path: string, n: number): Promise<Spread> {
  const child = spawn(process.execPath, ['--input-type=module', '-e', ECHO_SERVER, path], { stdio: ['ignore', 'pipe', 'inherit'] });
  try {
    await new Promise<void>((res, rej) => {
      child.stdout.once('data', () => res());
      child.once('exit', (code) => rej(new Error(`the echo server exited (${code})`)));
    });
    const c = await AgentClient.connect(path);
    const samples: number[] = [];
    for (let i = 0; i < 300 + n; i++) {
      const t = process.hrtime.bigint();
      const r = await c.request({ type: 'request-identities' });
      if (i >= 300) samples.push(Number(process.hrtime.bigint() - t) / 1e3);
      if (r.type !== 'identities-answer') throw new Error('the echo server answered something else');
    }
    c.close();
    return spread(samples);
  } finally {
    child.kill();
  }
}

/** CPU time of every thread of `pid` so far, in nanoseconds (/proc/PID/task/TID/schedstat: on-CPU ns first). */
export async function cpuNs(pid: number): Promise<number> {
  let total = 0;
  for (const tid of await readdir(`/proc/${pid}/task`).catch(() => [] as string[])) {
    const s = await readFile(`/proc/${pid}/task/${tid}/schedstat`, 'utf8').catch(() => '0');
    total += Number(s.split(' ')[0]);
  }
  return total;
}

/** The processes whose environment holds `name=value` (root reads every /proc/PID/environ). */
export function processesWithEnv(name: string, value: string): number[] {
  return processIds().filter((pid) => processEnviron(pid)?.[name] === value);
}

/** The pid in a scripts/pcsc-sandbox pid file ("PID STARTTIME"). */
export async function sandboxPid(dir: string, file: string): Promise<number> {
  return Number((await readFile(join(dir, file), 'utf8')).split(' ')[0]);
}

/** CPU microseconds per signature of each named group of processes while `work` makes `signatures`. */
export async function cpuPerSignature<T>(groups: Record<string, readonly number[]>, signatures: number, work: () => Promise<T>): Promise<{ result: T; cpuUs: Record<string, number> }> {
  const sample = async (): Promise<Record<string, number>> => {
    const out: Record<string, number> = {};
    for (const [name, pids] of Object.entries(groups)) out[name] = (await Promise.all(pids.map(cpuNs))).reduce((a, b) => a + b, 0);
    return out;
  };
  const before = await sample();
  const result = await work();
  const after = await sample();
  const cpuUs: Record<string, number> = {};
  for (const name of Object.keys(groups)) cpuUs[name] = Math.round((after[name]! - before[name]!) / 1e3 / signatures);
  return { result, cpuUs };
}
