import { spawn } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

/**
 * Start-up: how long from spawning the daemon until its socket accepts a connection, against how
 * long `node -e 0` takes to start and exit on the same machine (the floor any Node program
 * pays). Runs alternate between the two so that load on the machine affects both alike.
 * `npm run bench:startup` prints it; `npm run bench` includes it.
 */

const MAIN = resolve(dirname(fileURLToPath(import.meta.url)), '../cli/main.js');

export interface StartupFigures {
  readonly runs: number;
  /** Spawn to socket accepting, ms. */
  readonly agentMs: { readonly p50: number; readonly p90: number; readonly min: number };
  /** Spawn to exit of `node -e 0`, ms. */
  readonly nodeMs: { readonly p50: number; readonly p90: number; readonly min: number };
  /** agent p50 / node p50. */
  readonly ratio: number;
}

function accepts(path: string): Promise<boolean> {
  return new Promise((done) => {
    const s = connect({ path }, () => {
      s.destroy();
      done(true);
    });
    s.once('error', () => done(false));
  });
}

async function agentOnce(dir: string, i: number, state: string): Promise<number> {
  const socket = join(dir, `s${i}.sock`);
  const t0 = performance.now();
  const child = spawn(process.execPath, [MAIN, '-D', '--simulate', '--simulate-state', state, '--no-notify', '-a', socket], {
    // No pcscd is asked: --simulate. DEBUG=warn keeps the log out of the measurement.
    env: { ...process.env, DEBUG: 'warn', RUST_LOG: '' },
    stdio: ['ignore', 'ignore', 'ignore'],
  });
  let exited = false;
  child.once('exit', () => (exited = true));
  while (!(await accepts(socket))) {
    if (exited) throw new Error('the agent exited before listening');
    // 1 ms apart: a busy loop here would take the CPU the starting agent needs.
    await new Promise((r) => setTimeout(r, 1));
  }
  const ms = performance.now() - t0;
  child.kill('SIGTERM');
  if (!exited) await new Promise((r) => child.once('exit', r));
  return ms;
}

async function nodeOnce(): Promise<number> {
  const t0 = performance.now();
  const child = spawn(process.execPath, ['-e', '0'], { stdio: 'ignore' });
  await new Promise((r) => child.once('exit', r));
  return performance.now() - t0;
}

function summary(samples: number[]): { p50: number; p90: number; min: number } {
  const s = [...samples].sort((a, b) => a - b);
  const at = (p: number): number => Math.round(s[Math.min(s.length - 1, Math.floor(p * s.length))]! * 10) / 10;
  return { p50: at(0.5), p90: at(0.9), min: Math.round(s[0]! * 10) / 10 };
}

export async function measureStartup(runs = 20): Promise<StartupFigures> {
  const dir = await mkdtemp(join(tmpdir(), 'oca-startup-'));
  try {
    const state = join(dir, 'card.json');
    // The first run creates the virtual card (key generation); it is not counted.
    await agentOnce(dir, -1, state);
    const agent: number[] = [];
    const node: number[] = [];
    for (let i = 0; i < runs; i++) {
      node.push(await nodeOnce());
      agent.push(await agentOnce(dir, i, state));
    }
    const agentMs = summary(agent);
    const nodeMs = summary(node);
    return { runs, agentMs, nodeMs, ratio: Math.round((agentMs.p50 / nodeMs.p50) * 100) / 100 };
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

export function formatStartup(f: StartupFigures): string {
  return (
    `Start-up (${f.runs} runs): socket accepting after p50 ${f.agentMs.p50} ms (p90 ${f.agentMs.p90}, min ${f.agentMs.min}); ` +
    `node -e 0 p50 ${f.nodeMs.p50} ms (p90 ${f.nodeMs.p90}, min ${f.nodeMs.min}); ratio ${f.ratio}`
  );
}

if (process.argv[1] !== undefined && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const f = await measureStartup(Number(process.argv[2] ?? 20));
  process.stdout.write(`${formatStartup(f)}\n${JSON.stringify(f)}\n`);
}
