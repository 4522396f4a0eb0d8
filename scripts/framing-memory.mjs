#!/usr/bin/env node
// Memory under framing abuse: N connections each send a 4-byte header announcing a 256 KiB
// message and nothing else. Measures the resident set size (VmRSS) of our daemon and of OpenSSH's
// ssh-agent, each a separate process, before, while the connections are open, and after they
// closed, and, as the floor any Node server pays, of a bare net.Server that only reads and
// discards. Linux only (reads /proc). Prints one JSON object.
//
//   npm run build && node scripts/framing-memory.mjs [--connections 2000] [--ssh-agent /usr/bin/ssh-agent]
import { Buffer } from 'node:buffer';
import { spawn } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';

const args = process.argv.slice(2);
const opt = (name, dflt) => {
  const i = args.indexOf(name);
  return i >= 0 && args[i + 1] !== undefined ? args[i + 1] : dflt;
};
const CONNECTIONS = Number(opt('--connections', '2000'));
const SSH_AGENT = opt('--ssh-agent', '/usr/bin/ssh-agent');
const MAIN_JS = resolve(dirname(fileURLToPath(import.meta.url)), '../dist/cli/main.js');
const ANNOUNCE = Buffer.from([0, 4, 0, 0]); // 262144 = 256 KiB, ssh-agent's AGENT_MAX_LEN

const rssKiB = (pid) => Number(/VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1] ?? NaN);
const openFds = (pid) => readdirSync(`/proc/${pid}/fd`).length;

/** Connects once and waits for the reply to REQUEST_IDENTITIES (type 11): the server is idle after it. */
function roundTrip(path) {
  return new Promise((res, rej) => {
    const s = connect({ path });
    let got = Buffer.alloc(0);
    s.on('data', (d) => {
      got = Buffer.concat([got, d]);
      if (got.length >= 4 && got.length >= 4 + got.readUInt32BE(0)) {
        s.destroy();
        res();
      }
    });
    s.on('error', rej);
    s.write(Buffer.from([0, 0, 0, 1, 11]));
  });
}

/** A connection that sent a header announcing 256 KiB; null if connect failed (try again). */
function openAnnouncing(path) {
  return new Promise((res) => {
    const s = connect({ path });
    s.once('error', () => res(null));
    s.once('connect', () => {
      s.removeAllListeners('error');
      s.on('error', () => undefined);
      // A server that closes it (a connection limit) shows as destroyed.
      s.on('end', () => s.destroy());
      s.write(ANNOUNCE);
      res(s);
    });
  });
}

async function waitFor(pred, what) {
  // A generous bound (60 s): on a loaded machine accepting 2,000 connections takes a while.
  for (let i = 0; i < 6000; i++) {
    if (pred()) return;
    await sleep(10);
  }
  throw new Error(`timed out waiting for ${what}`);
}

async function waitForSocket(path) {
  for (let i = 0; i < 1000; i++) {
    try {
      await roundTrip(path);
      return;
    } catch {
      await sleep(20);
    }
  }
  throw new Error(`nothing answers on ${path}`);
}

/** roundTrip, retried while the listen backlog is full (EAGAIN). */
async function answered(path) {
  for (let i = 0; ; i++) {
    try {
      return await roundTrip(path);
    } catch (err) {
      if (err.code !== 'EAGAIN' || i > 500) throw err;
      await sleep(20);
    }
  }
}

async function measure(name, pid, path) {
  await answered(path);
  const fdsBefore = openFds(pid);
  const before = rssKiB(pid);
  const sockets = [];
  // In batches: a unix socket's listen backlog is finite, and connect() beyond it fails (EAGAIN).
  while (sockets.length < CONNECTIONS) {
    const batch = Array.from({ length: Math.min(100, CONNECTIONS - sockets.length) }, () => openAnnouncing(path));
    for (const r of await Promise.all(batch)) if (r !== null) sockets.push(r);
  }
  // The server accepts in order: once a later client is answered, every earlier one was accepted
  // (and, at a connection limit, the stalled ones that made room were closed).
  await answered(path);
  const stillOpen = () => sockets.filter((s) => !s.destroyed).length;
  // fdsBefore may still count the round trip's connection, which the server closes meanwhile.
  await waitFor(() => Math.abs(openFds(pid) - fdsBefore - stillOpen()) <= 1, `${name} to hold as many connections as are open`);
  const open = rssKiB(pid);
  const held = stillOpen();
  for (const s of sockets) s.destroy();
  await waitFor(() => openFds(pid) <= fdsBefore + 1, `${name} to close the connections`);
  await answered(path);
  const after = rssKiB(pid);
  return { name, heldOpen: held, closedByServer: sockets.length - held, beforeKiB: before, withConnectionsKiB: open, growthKiB: open - before, afterCloseKiB: after };
}

const NODE_FLOOR = `
const net = require('node:net');
net.createServer({ allowHalfOpen: true }, (s) => {
  s.on('error', () => {});
  s.on('data', (d) => { if (d.length === 5 && d[4] === 11) s.write(Buffer.from([0, 0, 0, 5, 12, 0, 0, 0, 0])); });
  s.on('end', () => s.end());
}).listen(process.argv[1]);
`;

const dir = mkdtempSync(join(tmpdir(), 'oca-framing-'));
const children = [];
try {
  const ours = spawn(process.execPath, [MAIN_JS, '-a', join(dir, 'ours.sock'), '--no-notify'], {
    env: { ...process.env, DEBUG: 'warn', PCSCLITE_CSOCK_NAME: '/nonexistent/oca-no-pcscd.comm' },
    stdio: ['ignore', 'ignore', 'inherit'],
  });
  children.push(ours);
  await waitForSocket(join(dir, 'ours.sock'));
  const openssh = spawn(SSH_AGENT, ['-D', '-a', join(dir, 'openssh.sock')], { stdio: ['ignore', 'ignore', 'ignore'] });
  children.push(openssh);
  await waitForSocket(join(dir, 'openssh.sock'));
  // The floor for any Node server: accepts, reads and discards, and answers REQUEST_IDENTITIES
  // with an empty list (so the same round trips work). What it grows by is Node's, not ours.
  const floor = spawn(process.execPath, ['-e', NODE_FLOOR, join(dir, 'floor.sock')], { stdio: ['ignore', 'ignore', 'inherit'] });
  children.push(floor);
  await waitForSocket(join(dir, 'floor.sock'));
  const results = [
    await measure('openpgp-card-agent', ours.pid, join(dir, 'ours.sock')),
    await measure('OpenSSH ssh-agent', openssh.pid, join(dir, 'openssh.sock')),
    await measure('bare Node server (floor)', floor.pid, join(dir, 'floor.sock')),
  ];
  process.stdout.write(`${JSON.stringify({ connections: CONNECTIONS, announcedBytes: 262144, results })}\n`);
} finally {
  for (const c of children) c.kill('SIGTERM');
  await Promise.all(children.map((c) => (c.exitCode === null ? new Promise((r) => c.once('exit', r)) : undefined)));
  rmSync(dir, { recursive: true, force: true });
}
