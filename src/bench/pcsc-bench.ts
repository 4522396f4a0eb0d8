import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import pino from 'pino';
import { PcscConnection } from '../card/pcsc/pcsc-connection.js';
import { Secret } from '../secret.js';
import { AgentClient } from '../gpg/agent-client.js';
import { processRssKiB } from '../os/procfs.js';
import { cardFloorUs, cpuPerSignature, internalAuthenticateInput, processesWithEnv, sandboxPid, socketFloorUs, verifyFloorUs, type Spread } from './floors.js';
import { GnupgHome } from './gnupg-home.js';

const run = promisify(execFile);
const HERE = dirname(fileURLToPath(import.meta.url));
const MAIN = resolve(HERE, '../cli/main.js');
const SANDBOX = resolve(HERE, '../../scripts/pcsc-sandbox');

export interface AgentFigures {
  listMs: { p50: number; p95: number };
  signMs: { p50: number; p95: number };
  apdusPerSignature: number;
  /** 4 clients signing at once, each on its own connection. */
  concurrent4?: { signatures: number; perSecond: number };
  /**
   * CPU microseconds per signature during the timed part of those 4 clients: the agent's own
   * processes (ours: the daemon; GnuPG: gpg-agent and scdaemon), the card's process, pcscd, and
   * the benchmark's client.
   */
  cpuUsPerSignature?: Record<'agent' | 'card' | 'pcscd' | 'client', number>;
  /** The first signature after the card was pulled out and put back (PIN known to the agent). */
  afterPlugIn?: { attachApdus: number; firstSignatureMs: number; firstSignatureApdus: number };
  /** Ours only: the first signature after the idle lock made the card forget its PIN. */
  afterIdleLock?: { firstSignatureMs: number; firstSignatureApdus: number };
  /** Our daemon only: RSS after warm-up and after 10,000 more signatures over PC/SC. */
  rssKiB?: { afterWarmup: number; after10000: number; growth: number };
}


/** RSS of the daemon `pid` around 10,000 signatures through `socket` (after 2,000 to warm up). */
async function rssOver(pid: number, socket: string, flags: number): Promise<{ afterWarmup: number; after10000: number; growth: number }> {
  const c = await AgentClient.connect(socket);
  const r = await c.request({ type: 'request-identities' });
  if (r.type !== 'identities-answer' || r.identities.length === 0) throw new Error('no key');
  const key = r.identities[0]!.keyBlob;
  const data = new Uint8Array(128).fill(9);
  const sign = async (): Promise<void> => {
    const x = await c.request({ type: 'sign-request', keyBlob: key, data, flags });
    if (x.type !== 'sign-response') throw new Error('signing failed');
  };
  for (let i = 0; i < 2000; i++) await sign();
  const afterWarmup = processRssKiB(pid) ?? NaN;
  for (let i = 0; i < 10_000; i++) await sign();
  const after10000 = processRssKiB(pid) ?? NaN;
  c.close();
  return { afterWarmup, after10000, growth: after10000 - afterWarmup };
}

const round = (v: number): number => Math.round(v * 1000) / 1000;
function stats(samples: number[]): { p50: number; p95: number } {
  const s = [...samples].sort((a, b) => a - b);
  const at = (p: number): number => s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))]!;
  return { p50: round(at(50)), p95: round(at(95)) };
}

async function waitForSocket(path: string): Promise<void> {
  for (let i = 0; i < 300; i++) {
    const ok = await new Promise<boolean>((r) => {
      const s = connect({ path }, () => {
        s.destroy();
        r(true);
      });
      s.once('error', () => r(false));
    });
    if (ok) return;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`nothing listens on ${path}`);
}

/** The card process's APDU count (it writes it on SIGUSR2). */
async function cardApdus(dir: string, state: string): Promise<number> {
  process.kill(await sandboxPid(dir, 'card-0.pid'), 'SIGUSR2');
  await new Promise((r) => setTimeout(r, 150));
  return Number(await readFile(`${state}.apdus`, 'utf8'));
}

/** Lists and signs through `socket`; the key is the first listed. */
async function measure(socket: string, dir: string, state: string, flags: number, n: number): Promise<AgentFigures> {
  const c = await AgentClient.connect(socket);
  const data = new Uint8Array(128).fill(7);
  const first = await c.request({ type: 'request-identities' });
  if (first.type !== 'identities-answer' || first.identities.length === 0) throw new Error(`agent on ${socket} lists no key`);
  const key = first.identities[0]!.keyBlob;
  const sign = async (): Promise<void> => {
    const r = await c.request({ type: 'sign-request', keyBlob: key, data, flags });
    if (r.type !== 'sign-response') throw new Error(`signing through ${socket} failed`);
  };
  // Warm up: the PIN verification and caches, and (for us) V8's optimizing compiler, which needs a
  // few hundred calls; a daemon runs for days. Both agents get the same.
  for (let i = 0; i < WARM_UP_SIGNATURES; i++) await sign();
  const list: number[] = [];
  for (let i = 0; i < n; i++) {
    const t = process.hrtime.bigint();
    await c.request({ type: 'request-identities' });
    list.push(Number(process.hrtime.bigint() - t) / 1e6);
  }
  const before = await cardApdus(dir, state);
  const signs: number[] = [];
  for (let i = 0; i < n; i++) {
    const t = process.hrtime.bigint();
    await sign();
    signs.push(Number(process.hrtime.bigint() - t) / 1e6);
  }
  const after = await cardApdus(dir, state);
  c.close();
  return { listMs: stats(list), signMs: stats(signs), apdusPerSignature: round((after - before) / n) };
}

/** Both agents' figures on one card, and what no agent could beat there (see floors.ts). */
export interface CardComparison {
  readonly ours: AgentFigures;
  readonly gpgAgent: AgentFigures | { error: string };
  readonly floor: {
    /** INTERNAL AUTHENTICATE through pyscard, no agent in between (microseconds): the faster of cardRunsUs. */
    readonly cardUs: Spread;
    /** The same before our agent ran and before gpg-agent ran. */
    readonly cardRunsUs: readonly Spread[];
    /** node:crypto checking one of the card's signatures (microseconds). */
    readonly verifyUs: Spread;
    /** An ssh-agent round trip to a server that answers at once, with the same client (microseconds). */
    readonly socketUs: Spread;
  };
}

/** Signatures each agent makes before anything is timed. */
export const WARM_UP_SIGNATURES = 300;

/**
 * `clients` connections signing at once, `total` signatures in all: signatures per second, and the
 * CPU time per signature of each group of processes in `cpu` while they were timed.
 */
async function concurrent(
  socket: string,
  flags: number,
  clients: number,
  total: number,
  cpu: Record<'agent' | 'card' | 'pcscd' | 'client', readonly number[]>,
): Promise<{ signatures: number; perSecond: number; cpuUs: Record<'agent' | 'card' | 'pcscd' | 'client', number> }> {
  const cs = await Promise.all(Array.from({ length: clients }, () => AgentClient.connect(socket)));
  const r = await cs[0]!.request({ type: 'request-identities' });
  if (r.type !== 'identities-answer' || r.identities.length === 0) throw new Error('no key');
  const key = r.identities[0]!.keyBlob;
  const data = new Uint8Array(128).fill(5);
  const burst = async (count: number): Promise<void> => {
    let next = 0;
    await Promise.all(
      cs.map(async (c) => {
        while (next < count) {
          next++;
          const x = await c.request({ type: 'sign-request', keyBlob: key, data, flags });
          if (x.type !== 'sign-response') throw new Error(`signing through ${socket} failed`);
        }
      }),
    );
  };
  await burst(WARM_UP_SIGNATURES); // the concurrent paths warm too
  const { result: seconds, cpuUs } = await cpuPerSignature(cpu, total, async () => {
    const t0 = process.hrtime.bigint();
    await burst(total);
    return Number(process.hrtime.bigint() - t0) / 1e9;
  });
  for (const c of cs) c.close();
  return { signatures: total, perSecond: Math.round(total / seconds), cpuUs: cpuUs as Record<'agent' | 'card' | 'pcscd' | 'client', number> };
}

/** Time and card APDUs of one signature through `socket` (the first of the key listed). */
async function oneSignature(socket: string, dir: string, state: string, flags: number): Promise<{ ms: number; apdus: number }> {
  const c = await AgentClient.connect(socket);
  const r = await c.request({ type: 'request-identities' });
  if (r.type !== 'identities-answer' || r.identities.length === 0) throw new Error('no key');
  const before = await cardApdus(dir, state);
  const t = process.hrtime.bigint();
  const x = await c.request({ type: 'sign-request', keyBlob: r.identities[0]!.keyBlob, data: new Uint8Array(128).fill(3), flags });
  const ms = Number(process.hrtime.bigint() - t) / 1e6;
  c.close();
  if (x.type !== 'sign-response') throw new Error(`signing through ${socket} failed`);
  return { ms: round(ms), apdus: (await cardApdus(dir, state)) - before };
}

/** Pulls the card in slot 0 out and puts it back; waits until `socket` lists a key again. APDUs the agent spent meanwhile. */
async function replug(dir: string, state: string, algo: string, socket: string): Promise<number> {
  await run(SANDBOX, ['uncard', dir, '0']);
  await run(SANDBOX, ['card', dir, '0', state, '--algo', algo]);
  const c = await AgentClient.connect(socket);
  try {
    for (let i = 0; i < 200; i++) {
      const r = await c.request({ type: 'request-identities' });
      if (r.type === 'identities-answer' && r.identities.length > 0) break;
      await new Promise((res) => setTimeout(res, 50));
    }
  } finally {
    c.close();
  }
  // The new card process counts from zero: everything so far was the agent attaching it.
  return cardApdus(dir, state);
}

/**
 * What a PC/SC transaction costs: one APDU (GET DATA C4) alone, and inside SCardBeginTransaction
 * / SCardEndTransaction, through our PC/SC thread; p50 of `n` each, in microseconds.
 */
export async function transactionCost(reader: string, n: number): Promise<{ apduUs: number; apduInTransactionUs: number; costUs: number }> {
  const conn = await PcscConnection.open(reader, pino({ level: 'silent' }));
  try {
    const select = Uint8Array.from(Buffer.from('00a4040006d2760001240100', 'hex'));
    const c4 = Uint8Array.from(Buffer.from('00ca00c400', 'hex'));
    await conn.transmit(select);
    const time = async (f: () => Promise<unknown>): Promise<number> => {
      for (let i = 0; i < 50; i++) await f();
      const xs: number[] = [];
      for (let i = 0; i < n; i++) {
        const t = process.hrtime.bigint();
        await f();
        xs.push(Number(process.hrtime.bigint() - t) / 1e3);
      }
      return stats(xs).p50;
    };
    const apduUs = await time(() => conn.transmit(c4));
    const apduInTransactionUs = await time(async () => {
      conn.beginTransaction();
      await conn.transmit(c4);
      await conn.endTransaction();
    });
    return { apduUs: round(apduUs), apduInTransactionUs: round(apduInTransactionUs), costUs: round(apduInTransactionUs - apduUs) };
  } finally {
    await conn.close();
  }
}

/**
 * Ours and gpg-agent side by side on the same virtual card behind real pcscd + vpcd: the private
 * pcscd of scripts/pcsc-sandbox in its quickack namespace, reached through PCSCLITE_CSOCK_NAME by
 * both agents (and gpg-agent's scdaemon). Needs root (network and mount namespaces) and GnuPG.
 */
export async function pcscComparison(
  algorithms: readonly string[],
  n: number,
): Promise<{ cards: Record<string, CardComparison>; transaction: Awaited<ReturnType<typeof transactionCost>> | undefined }> {
  const out: Record<string, CardComparison> = {};
  let transaction: Awaited<ReturnType<typeof transactionCost>> | undefined;
  if (process.getuid?.() !== 0) throw new Error('needs root (scripts/pcsc-sandbox makes network and mount namespaces)');
  const dir = await mkdtemp(join(tmpdir(), 'oca-bench-pcsc-'));
  const started = run(SANDBOX, ['start', dir]);
  try {
    // The sandbox prints its pcscd's socket; every PC/SC client below talks to that pcscd only.
    const socketPath = (await started).stdout.trim().split('\n').pop()!;
    const env: NodeJS.ProcessEnv = { ...process.env, PCSCLITE_CSOCK_NAME: socketPath };
    for (const algo of algorithms) {
      const state = join(dir, `card-${algo}.json`);
      await run(SANDBOX, ['card', dir, '0', state, '--algo', algo]);
      const socket = join(dir, `ours-${algo}.sock`);
      // SSH_AGENT_RSA_SHA2_256 for RSA keys: what OpenSSH asks for.
      const flags = algo.startsWith('rsa') ? 4 : 0;
      // A socket round trip with nothing behind it; and the card alone, before each agent uses it
      // (the second time a fresh card process, after the first agent's replug).
      const socketUs = await socketFloorUs(join(dir, `echo-${algo}.sock`), 4 * n);
      const cardAlone = (): Promise<Spread> => cardFloorUs(env, '00 00', '123456', internalAuthenticateInput(algo, new Uint8Array(128).fill(7)), 4 * n);
      const cardRunsUs = [await cardAlone()];
      /** The figures both agents get: one at a time, four at once, then the card pulled and put back. */
      const figures = async (agentSocket: string, agentPids: readonly number[]): Promise<AgentFigures> => {
        const f = await measure(agentSocket, dir, state, flags, n);
        const cpu = { agent: agentPids, card: [await sandboxPid(dir, 'card-0.pid')], pcscd: [await sandboxPid(dir, 'pcscd.pid')], client: [process.pid] };
        const { cpuUs, ...c4 } = await concurrent(agentSocket, flags, 4, 4 * n, cpu);
        f.concurrent4 = c4;
        f.cpuUsPerSignature = cpuUs;
        const attachApdus = await replug(dir, state, algo, agentSocket);
        const plugged = await oneSignature(agentSocket, dir, state, flags);
        f.afterPlugIn = { attachApdus, firstSignatureMs: plugged.ms, firstSignatureApdus: plugged.apdus };
        return f;
      };
      // A short idle lock so the benchmark can measure the first signature after it without waiting 5 s.
      const ours: ChildProcess = spawn(process.execPath, [MAIN, '-D', '--no-notify', '--card-idle-lock', '1', '-a', socket], { env: { ...env, DEBUG: 'warn' }, stdio: 'ignore' });
      let oursFigures: AgentFigures;
      let verifyUs: Spread;
      try {
        await waitForSocket(socket);
        const c = await AgentClient.connect(socket);
        let ident = '';
        for (let i = 0; i < 100 && ident === ''; i++) {
          const r = await c.request({ type: 'request-identities' });
          if (r.type === 'identities-answer' && r.identities.length > 0) ident = r.identities[0]!.comment;
          else await new Promise((res) => setTimeout(res, 100));
        }
        const added = await c.request({ type: 'add-smartcard-key-constrained', readerId: ident, pin: new Secret('123456'), constraints: [{ kind: 'lifetime', seconds: 3600 }] });
        if (added.type !== 'success') throw new Error('ssh-add -s failed for our agent');
        c.close();
        oursFigures = await figures(socket, [ours.pid!]);
        verifyUs = await verifyFloorUs(socket, flags, 4 * n);
        // --card-idle-lock 1 (below): after a second and a bit the card has forgotten its PIN.
        await new Promise((res) => setTimeout(res, 1500));
        const idle = await oneSignature(socket, dir, state, flags);
        oursFigures.afterIdleLock = { firstSignatureMs: idle.ms, firstSignatureApdus: idle.apdus };
        if (algo === 'ed25519') oursFigures.rssKiB = await rssOver(ours.pid!, socket, flags);
      } finally {
        if (ours.exitCode === null && ours.signalCode === null) {
          const exited = new Promise((res) => ours.once('exit', res));
          ours.kill('SIGTERM');
          await exited;
        }
      }
      cardRunsUs.push(await cardAlone());
      let gpgFigures: AgentFigures | { error: string };
      const gpg = await GnupgHome.create('123456', env);
      try {
        await gpg.cardStatus();
        const gpgSocket = await gpg.startAgent();
        gpgFigures = await figures(gpgSocket, processesWithEnv('GNUPGHOME', gpg.dir));
      } catch (err) {
        gpgFigures = { error: err instanceof Error ? err.message.split('\n')[0]! : String(err) };
      } finally {
        await gpg.stop();
      }
      out[algo] = { ours: oursFigures, gpgAgent: gpgFigures, floor: { cardUs: cardRunsUs.reduce((a, b) => (b.p50 < a.p50 ? b : a)), cardRunsUs, verifyUs, socketUs } };
      if (algo === algorithms[0]) {
        // This process talks to the sandbox's pcscd too (its PC/SC threads read this variable).
        process.env['PCSCLITE_CSOCK_NAME'] = socketPath;
        transaction = await transactionCost('OCA Virtual Reader 00 00', 500);
      }
      process.stderr.write(`pcsc ${algo}: ours ${JSON.stringify(oursFigures)} gpg-agent ${JSON.stringify(gpgFigures)}\n`);
      await run(SANDBOX, ['uncard', dir, '0']);
    }
  } finally {
    await started.catch(() => undefined);
    await run(SANDBOX, ['stop', dir]).catch(() => undefined);
    await rm(dir, { recursive: true, force: true });
  }
  return { cards: out, transaction };
}
