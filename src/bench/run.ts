import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, mkdir, rm, writeFile } from 'node:fs/promises';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { AgentClient } from '../gpg/agent-client.js';
import { processRssKiB } from '../os/procfs.js';
import { pcscComparison, type AgentFigures } from './pcsc-bench.js';
import { formatStartup, measureStartup } from './startup.js';

/**
 * npm run bench: the agent as users run it (a separate daemon process behind its unix socket),
 * driven by clients speaking the ssh-agent protocol. Prints a markdown table and writes JSON to
 * bench-results/results.json. Figures are measurements of this machine, not assertions.
 */

const MAIN = resolve(dirname(fileURLToPath(import.meta.url)), '../cli/main.js');
const ALGORITHMS = ['ed25519', 'p256', 'p384', 'p521', 'rsa2048', 'rsa4096'] as const;

interface Daemon {
  child: ChildProcess;
  socket: string;
  stderr: () => string;
}

async function startDaemon(dir: string, algo: string, debug: string): Promise<Daemon> {
  const socket = join(dir, `${algo}.sock`);
  const child = spawn(process.execPath, [MAIN, '--simulate', '--simulate-algo', algo, '--simulate-state', join(dir, `${algo}.json`), '--no-notify', '-a', socket], {
    // --simulate needs no PC/SC; pointing libpcsclite nowhere keeps the machine's pcscd out of it.
    env: { ...process.env, DEBUG: debug, PCSCLITE_CSOCK_NAME: '/nonexistent/oca-no-pcscd.comm' },
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let err = '';
  child.stderr!.setEncoding('utf8').on('data', (s: string) => (err += s));
  const deadline = Date.now() + 60_000;
  while (!(await answers(socket))) {
    if (Date.now() > deadline || child.exitCode !== null) throw new Error(`daemon did not start: ${err}`);
    await new Promise((r) => setTimeout(r, 50));
  }
  return { child, socket, stderr: () => err };
}

function answers(path: string): Promise<boolean> {
  return new Promise((resolve) => {
    const s = connect({ path }, () => {
      s.destroy();
      resolve(true);
    });
    s.once('error', () => resolve(false));
  });
}

async function stopDaemon(d: Daemon): Promise<void> {
  d.child.kill('SIGTERM');
  await new Promise((r) => d.child.once('exit', r));
}

function percentile(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;
}

function stats(samplesMs: number[]): { p50: number; p95: number } {
  const s = [...samplesMs].sort((a, b) => a - b);
  return { p50: round(percentile(s, 50)), p95: round(percentile(s, 95)) };
}

const round = (v: number): number => Math.round(v * 1000) / 1000;

/** The daemon's resident set in KiB (NaN where /proc does not tell). */
const rssKiB = (pid: number): number => processRssKiB(pid) ?? NaN;

async function firstKey(client: AgentClient): Promise<Uint8Array> {
  const r = await client.request({ type: 'request-identities' });
  if (r.type !== 'identities-answer' || r.identities.length === 0) throw new Error('agent lists no key');
  return r.identities[0]!.keyBlob;
}

async function sign(client: AgentClient, key: Uint8Array, data: Uint8Array, flags: number): Promise<void> {
  const r = await client.request({ type: 'sign-request', keyBlob: key, data, flags });
  if (r.type !== 'sign-response') throw new Error(`signing failed: ${r.type}`);
}

async function main(): Promise<void> {
  const dir = await mkdtemp(join(tmpdir(), 'oca-bench-'));
  const data = new Uint8Array(128).fill(7); // about the size of an SSH userauth request
  const results: Record<string, unknown> = { date: new Date().toISOString(), node: process.version, backend: 'virtual card in the daemon (--simulate)' };
  const perAlgo: Record<string, unknown> = {};
  try {
    for (const algo of ALGORITHMS) {
      const d = await startDaemon(dir, algo, 'warn');
      const c = await AgentClient.connect(d.socket);
      const key = await firstKey(c);
      const flags = algo.startsWith('rsa') ? 4 : 0;
      await sign(c, key, data, flags); // first signature verifies the PIN
      const list: number[] = [];
      for (let i = 0; i < 500; i++) {
        const t = process.hrtime.bigint();
        await c.request({ type: 'request-identities' });
        list.push(Number(process.hrtime.bigint() - t) / 1e6);
      }
      const n = algo === 'rsa4096' ? 100 : 300;
      const signs: number[] = [];
      for (let i = 0; i < n; i++) {
        const t = process.hrtime.bigint();
        await sign(c, key, data, flags);
        signs.push(Number(process.hrtime.bigint() - t) / 1e6);
      }
      c.close();
      await stopDaemon(d);
      perAlgo[algo] = { listMs: stats(list), signMs: stats(signs), signatures: n };
      process.stderr.write(`${algo}: list ${JSON.stringify(stats(list))} sign ${JSON.stringify(stats(signs))}\n`);
    }
    results['algorithms'] = perAlgo;

    // APDUs per steady-state signature, counted from the card's trace log.
    {
      const d = await startDaemon(dir, 'ed25519', 'warn,card=trace');
      const c = await AgentClient.connect(d.socket);
      const key = await firstKey(c);
      await sign(c, key, data, 0);
      const count = (): number => d.stderr().split('\n').filter((l) => l.includes('"direction":"command"')).length;
      const before = count();
      for (let i = 0; i < 100; i++) await sign(c, key, data, 0);
      await new Promise((r) => setTimeout(r, 200));
      results['apdusPerSignature'] = (count() - before) / 100;
      c.close();
      await stopDaemon(d);
    }

    // Throughput with 8 concurrent clients, and memory over 10,000 signatures (Ed25519).
    {
      const d = await startDaemon(dir, 'ed25519', 'warn');
      const clients = await Promise.all(Array.from({ length: 8 }, () => AgentClient.connect(d.socket)));
      const key = await firstKey(clients[0]!);
      // Warm up first: V8 sizes its heap during the first thousands of requests; growth after
      // that is what a long-running daemon would keep.
      for (let i = 0; i < 2000; i++) await sign(clients[i % 8]!, key, data, 0);
      const rssBefore = rssKiB(d.child.pid!);
      const total = 10_000;
      let next = 0;
      const t0 = process.hrtime.bigint();
      await Promise.all(
        clients.map(async (c) => {
          while (next < total) {
            next++;
            await sign(c, key, data, 0);
          }
        }),
      );
      const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
      const rssAfter = rssKiB(d.child.pid!);
      results['concurrent8'] = { signatures: total, seconds: round(seconds), perSecond: Math.round(total / seconds) };
      // And 10,000 more: a leak keeps growing, a settled heap does not.
      next = 0;
      await Promise.all(
        clients.map(async (c) => {
          while (next < total) {
            next++;
            await sign(c, key, data, 0);
          }
        }),
      );
      const rssAfter2 = rssKiB(d.child.pid!);
      results['rssKiB'] = { afterWarmup: rssBefore, after10000: rssAfter, growth: rssAfter - rssBefore, after20000: rssAfter2 };
      for (const c of clients) c.close();
      await stopDaemon(d);
    }
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
  try {
    results['pcsc'] = await pcscComparison(['ed25519', 'p256', 'rsa2048'], 1000);
  } catch (err) {
    results['pcsc'] = { error: `not measured: ${err instanceof Error ? err.message : String(err)}` };
  }
  results['startup'] = await measureStartup();
  await mkdir('bench-results', { recursive: true });
  await writeFile('bench-results/results.json', `${JSON.stringify(results, null, 2)}\n`);
  printTable(results);
}

type PcscFig = AgentFigures;
type PcscResult = Awaited<ReturnType<typeof pcscComparison>>;

const ratio = (a: number, b: number): string => (b > 0 ? `${(a / b).toFixed(2)}x` : '-');

function printTable(r: Record<string, unknown>): void {
  const algos = r['algorithms'] as Record<string, { listMs: { p50: number; p95: number }; signMs: { p50: number; p95: number } }>;
  const lines = ['| key | list p50 (ms) | list p95 (ms) | sign p50 (ms) | sign p95 (ms) |', '|---|---|---|---|---|'];
  for (const [algo, v] of Object.entries(algos)) lines.push(`| ${algo} | ${v.listMs.p50} | ${v.listMs.p95} | ${v.signMs.p50} | ${v.signMs.p95} |`);
  const c = r['concurrent8'] as { perSecond: number };
  const m = r['rssKiB'] as { afterWarmup: number; after10000: number; growth: number; after20000: number };
  lines.push('', `APDUs per steady-state signature: ${String(r['apdusPerSignature'])}`);
  lines.push(`8 concurrent clients (Ed25519): ${c.perSecond} signatures/s`);
  lines.push(`daemon RSS: ${m.afterWarmup} KiB after 2,000 warm-up signatures, ${m.after10000} KiB after 10,000 more (growth ${m.growth} KiB), ${m.after20000} KiB after 20,000`);
  const pcsc = r['pcsc'] as PcscResult | { error: string };
  if ('error' in pcsc) {
    lines.push('', `PC/SC comparison: ${pcsc.error}`);
  } else {
    lines.push(
      '',
      'Over pcscd + vpcd (the private pcscd of scripts/pcsc-sandbox), same virtual card:',
      '',
      '| key | agent | APDUs/signature | list p50 | list p95 | sign p50 | sign p95 | 4 clients (sig/s) |',
      '|---|---|---|---|---|---|---|---|',
    );
    for (const [algo, v] of Object.entries(pcsc.cards)) {
      const row = (who: string, f: PcscFig | { error: string }): string =>
        'error' in f
          ? `| ${algo} | ${who} | failed: ${f.error} | | | | | |`
          : `| ${algo} | ${who} | ${f.apdusPerSignature} | ${f.listMs.p50} | ${f.listMs.p95} | ${f.signMs.p50} | ${f.signMs.p95} | ${f.concurrent4?.perSecond ?? '-'} |`;
      lines.push(row('openpgp-card-agent', v.ours), row('gpg-agent + scdaemon', v.gpgAgent));
    }
    lines.push('', 'Ours against gpg-agent in the same run (lower is better for times, higher for throughput):', '', '| key | list p50 | sign p50 | 4 clients |', '|---|---|---|---|');
    for (const [algo, v] of Object.entries(pcsc.cards)) {
      const g = v.gpgAgent;
      if ('error' in g) continue;
      const o = v.ours;
      lines.push(`| ${algo} | ${ratio(o.listMs.p50, g.listMs.p50)} | ${ratio(o.signMs.p50, g.signMs.p50)} | ${ratio(o.concurrent4?.perSecond ?? 0, g.concurrent4?.perSecond ?? 0)} |`);
    }
    lines.push(
      '',
      'What no agent can beat here, measured in the same run (p50, microseconds): the card alone (INTERNAL AUTHENTICATE through pyscard, no agent between), node:crypto checking one signature (ours checks each before handing it out), and an ssh-agent round trip to a server that answers at once. From them, the best an agent that checks its signatures could reach, against gpg-agent; for 4 clients the lower of 1 / card and 2 cores over the CPU per signature of the card, pcscd, the client and the check alone (table below):',
      '',
      '| key | card alone | signature check | socket round trip | lowest sign p50 (card + check + socket) | lowest list p50 (socket) | highest 4-client throughput |',
      '|---|---|---|---|---|---|---|',
    );
    for (const [algo, v] of Object.entries(pcsc.cards)) {
      const g = v.gpgAgent;
      const f = v.floor;
      const lowestSign = f.cardUs.p50 + f.verifyUs.p50 + f.socketUs.p50;
      // Four clients at once: the card signs one at a time (1 / card), and on 2 cores the CPU the
      // card, pcscd and the client spend per signature (the least either run measured) plus an
      // agent that spends nothing but the check bounds it too.
      const least = (k: 'card' | 'pcscd' | 'client'): number => Math.min(...[v.ours, g].flatMap((x) => ('error' in x || x.cpuUsPerSignature === undefined ? [] : [x.cpuUsPerSignature[k]])));
      const cpuBound = 2e6 / (f.verifyUs.p50 + least('card') + least('pcscd') + least('client'));
      const ceiling = Math.min(1e6 / f.cardUs.p50, Number.isFinite(cpuBound) ? cpuBound : Infinity);
      const vs = (x: string): string => ('error' in g ? '' : ` = ${x} of gpg-agent's`);
      lines.push(
        `| ${algo} | ${f.cardUs.p50} | ${f.verifyUs.p50} | ${f.socketUs.p50} | ${Math.round(lowestSign)}${'error' in g ? '' : vs(ratio(lowestSign, g.signMs.p50 * 1000))} | ${f.socketUs.p50}${'error' in g ? '' : vs(ratio(f.socketUs.p50, g.listMs.p50 * 1000))} | ${Math.round(ceiling)}/s${'error' in g ? '' : vs(ratio(ceiling, g.concurrent4?.perSecond ?? 0))} |`,
      );
    }
    lines.push('', 'CPU time per signature while 4 clients sign (microseconds; the machine has 2 cores, so the total bounds the throughput):', '', '| key | agent | the agent\'s processes | card process | pcscd | client | total | 2 cores allow at most |', '|---|---|---|---|---|---|---|---|');
    for (const [algo, v] of Object.entries(pcsc.cards)) {
      const row = (who: string, f: PcscFig | { error: string }): string => {
        const c = 'error' in f ? undefined : f.cpuUsPerSignature;
        if (c === undefined) return `| ${algo} | ${who} | | | | | | |`;
        const total = c.agent + c.card + c.pcscd + c.client;
        return `| ${algo} | ${who} | ${c.agent} | ${c.card} | ${c.pcscd} | ${c.client} | ${total} | ${Math.round(2e6 / total)}/s |`;
      };
      lines.push(row('openpgp-card-agent', v.ours), row('gpg-agent + scdaemon', v.gpgAgent));
    }
    lines.push('', '| key | agent | card attached (APDUs) | first signature after plug-in (ms, APDUs) | first signature after the idle lock (ms, APDUs) |', '|---|---|---|---|---|');
    for (const [algo, v] of Object.entries(pcsc.cards)) {
      const row = (who: string, f: PcscFig | { error: string }): string => {
        if ('error' in f) return `| ${algo} | ${who} | | | |`;
        const p = f.afterPlugIn;
        const i = f.afterIdleLock;
        return `| ${algo} | ${who} | ${p?.attachApdus ?? '-'} | ${p === undefined ? '-' : `${p.firstSignatureMs}, ${p.firstSignatureApdus}`} | ${i === undefined ? 'n/a (no idle lock)' : `${i.firstSignatureMs}, ${i.firstSignatureApdus}`} |`;
      };
      lines.push(row('openpgp-card-agent', v.ours), row('gpg-agent + scdaemon', v.gpgAgent));
    }
    if (pcsc.transaction !== undefined) {
      const t = pcsc.transaction;
      lines.push('', `A PC/SC transaction around one APDU (GET DATA C4, through our PC/SC thread): ${t.apduUs} us alone, ${t.apduInTransactionUs} us with SCardBeginTransaction/SCardEndTransaction (+${t.costUs} us); it is no APDU.`);
    }
    for (const [algo, v] of Object.entries(pcsc.cards)) {
      const mm = v.ours.rssKiB;
      if (mm !== undefined) lines.push('', `Our daemon over PC/SC (${algo}): RSS ${mm.afterWarmup} KiB after 2,000 warm-up signatures, ${mm.after10000} KiB after 10,000 more (growth ${mm.growth} KiB)`);
    }
  }
  lines.push('', formatStartup(r['startup'] as Parameters<typeof formatStartup>[0]));
  process.stdout.write(`${lines.join('\n')}\n`);
}

await main();
