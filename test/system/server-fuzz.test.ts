import fc from 'fast-check';
import { connect } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AGENT_MAX_LEN, FrameSplitter, encodeFrame } from '../../src/server/framing.js';
import { Writer } from '../../src/wire/writer.js';
import { AgentProcess, agentRequest, cleanupSystem } from './harness/agent-process.js';

// Property test of the whole daemon as a child process: random and mutated frames from a
// separate client must each get a reply (FAILURE for anything that is not a request the agent
// knows) or see their connection closed; the daemon must not crash and must still answer.

/** draft-miller-ssh-agent §3 request codes the agent may accept. */
const KNOWN_REQUESTS = new Set([11, 13, 17, 18, 19, 20, 21, 22, 23, 25, 26, 27]);
/** Reply codes: FAILURE 5, SUCCESS 6, IDENTITIES_ANSWER 12, SIGN_RESPONSE 14, EXTENSION_FAILURE 28, EXTENSION_RESPONSE 29. */
const REPLY_CODES = new Set([5, 6, 12, 14, 28, 29]);
const FRAMES_PER_CONNECTION = 25;
const CONNECTIONS = 400; // 10,000 frames in all

function str(w: Writer, s: string | Uint8Array): Writer {
  return typeof s === 'string' ? w.string(s) : w.bytes(s);
}

function ed25519Blob(seed: number): Uint8Array {
  const w = new Writer();
  str(w, 'ssh-ed25519');
  str(w, new Uint8Array(32).fill(seed));
  return w.toBytes();
}

/** Well-formed requests to start mutations from (draft-miller-ssh-agent §3.2–§3.8). */
const TEMPLATES: Uint8Array[] = [
  Uint8Array.of(11),
  (() => {
    const w = new Writer().u8(13);
    str(w, ed25519Blob(1));
    str(w, 'data to sign');
    return w.u32(0).toBytes();
  })(),
  (() => {
    const w = new Writer().u8(13);
    str(w, new Uint8Array(0));
    str(w, new Uint8Array(0));
    return w.u32(4).toBytes();
  })(),
  (() => {
    const w = new Writer().u8(17);
    str(w, 'ssh-ed25519');
    str(w, new Uint8Array(32).fill(2));
    str(w, new Uint8Array(64).fill(3));
    return str(w, 'comment').toBytes();
  })(),
  str(new Writer().u8(18), ed25519Blob(4)).toBytes(),
  Uint8Array.of(19),
  str(str(new Writer().u8(20), 'foo'), '123456').toBytes(),
  str(new Writer().u8(21), 'foo').toBytes(),
  str(new Writer().u8(23), 'not the passphrase').toBytes(),
  str(new Writer().u8(27), 'query').toBytes(),
  (() => {
    const w = new Writer().u8(27);
    str(w, 'session-bind@openssh.com');
    str(w, ed25519Blob(5));
    str(w, new Uint8Array(32));
    str(w, new Uint8Array(83));
    return w.bool(false).toBytes();
  })(),
];

const mutate = (t: Uint8Array): fc.Arbitrary<Uint8Array> =>
  fc.oneof(
    fc.nat({ max: Math.max(0, t.length - 1) }).map((n) => t.subarray(0, n)),
    fc.tuple(fc.nat({ max: t.length - 1 }), fc.integer({ min: 1, max: 255 })).map(([i, x]) => {
      const c = Uint8Array.from(t);
      c[i] = (c[i] ?? 0) ^ x;
      return c;
    }),
    fc.tuple(fc.nat({ max: Math.max(0, t.length - 4) }), fc.constantFrom(0xffffffff, 0x7fffffff, 0x40000, 1, 0)).map(([i, v]) => {
      const c = Uint8Array.from(t);
      if (c.length >= 4) new DataView(c.buffer).setUint32(Math.min(i, c.length - 4), v);
      return c;
    }),
    fc.tuple(fc.nat({ max: t.length }), fc.uint8Array({ minLength: 1, maxLength: 16 })).map(([i, extra]) =>
      Uint8Array.from([...t.subarray(0, i), ...extra, ...t.subarray(i)]),
    ),
  );

const body: fc.Arbitrary<Uint8Array> = fc.oneof(
  fc.uint8Array({ maxLength: 300 }),
  fc.tuple(fc.constantFrom(...KNOWN_REQUESTS, 0, 1, 5, 12, 14, 24, 28, 30, 255), fc.uint8Array({ maxLength: 200 })).map(([t, rest]) =>
    Uint8Array.of(t, ...rest),
  ),
  fc.constantFrom(...TEMPLATES),
  fc.constantFrom(...TEMPLATES).chain(mutate),
);

/** What ends the connection's byte stream after its frames, if anything. */
const tail: fc.Arbitrary<Uint8Array> = fc.oneof(
  fc.constant(new Uint8Array(0)),
  fc.integer({ min: AGENT_MAX_LEN + 1, max: 0xffffffff }).map((n) => {
    const h = new Uint8Array(4);
    new DataView(h.buffer).setUint32(0, n);
    return h;
  }),
  fc.uint8Array({ minLength: 1, maxLength: 3 }),
  fc.integer({ min: 10, max: 1000 }).map((n) => {
    const h = new Uint8Array(9);
    new DataView(h.buffer).setUint32(0, n);
    return h; // a frame that promises n bytes and delivers 5
  }),
);

/**
 * No LOCK: a random LOCK that happens to be well formed locks the agent, and every later random
 * UNLOCK then waits out OpenSSH's growing back-off (up to 10 s each), which turns this into a
 * test of the back-off. LOCK/UNLOCK have tests of their own.
 */
const notLock = body.filter((b) => b[0] !== 22);

const scenario = fc.record({
  frames: fc.array(notLock, { minLength: FRAMES_PER_CONNECTION, maxLength: FRAMES_PER_CONNECTION }),
  tail,
  cuts: fc.array(fc.nat(), { maxLength: 8 }),
});

/** Sends the bytes in pieces, shuts the write side, and collects replies until the agent closes. */
function exchange(socketPath: string, bytes: Uint8Array, cuts: number[]): Promise<Uint8Array[]> {
  return new Promise((resolve, reject) => {
    const replies: Uint8Array[] = [];
    const socket = connect({ path: socketPath });
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new Error(`no close after ${replies.length} replies`));
    }, 30_000);
    const splitter = new FrameSplitter((f) => replies.push(f));
    socket.on('data', (chunk: Buffer) => splitter.push(chunk));
    // The agent may close while we still write (oversize frame): EPIPE/ECONNRESET are expected.
    socket.on('error', () => undefined);
    socket.once('close', () => {
      clearTimeout(timer);
      resolve(replies);
    });
    socket.once('connect', () => {
      const points = [...new Set(cuts.map((c) => c % (bytes.length + 1)))].sort((a, b) => a - b);
      let prev = 0;
      for (const p of [...points, bytes.length]) {
        if (p > prev) socket.write(bytes.subarray(prev, p));
        prev = p;
      }
      socket.end();
    });
  });
}

describe('daemon under random and mutated frames', () => {
  let agent: AgentProcess;

  beforeAll(async () => {
    agent = await AgentProcess.start({ env: { DEBUG: 'warn' } });
  });

  afterAll(async () => {
    await cleanupSystem();
  });

  it(`answers each of ${FRAMES_PER_CONNECTION * CONNECTIONS} frames with a reply or a closed connection, and survives`, async () => {
    let frames = 0;
    let replies = 0;
    await fc.assert(
      fc.asyncProperty(scenario, async ({ frames: bodies, tail: end, cuts }) => {
        const bytes = Uint8Array.from([...bodies.flatMap((b) => [...encodeFrame(b)]), ...end]);
        const got = await exchange(agent.socketPath, bytes, cuts);
        frames += bodies.length;
        replies += got.length;
        expect(got.length).toBeLessThanOrEqual(bodies.length);
        got.forEach((reply, i) => {
          const request = bodies[i] ?? new Uint8Array(0);
          const type = request[0];
          if (type === undefined || !KNOWN_REQUESTS.has(type)) {
            expect(reply).toEqual(Uint8Array.of(5));
          } else {
            expect(reply.length).toBeGreaterThan(0);
            expect(REPLY_CODES.has(reply[0] ?? -1)).toBe(true);
          }
        });
        expect(agent.status).toBeUndefined();
      }),
      { numRuns: CONNECTIONS },
    );
    expect(frames).toBe(FRAMES_PER_CONNECTION * CONNECTIONS);
    // Most frames are answered (not every connection is cut short).
    expect(replies).toBeGreaterThan(frames / 2);
    const answer = await agentRequest(agent.socketPath, Uint8Array.of(11));
    expect(answer?.[0]).toBe(12);
    expect(agent.status).toBeUndefined();
  }, 600_000);
});
