import { parentPort, workerData } from 'node:worker_threads';
import { NativePcsc, PcscCallError } from './pcsc-native.js';
import { SECRET_INS } from '../iso7816/command.js';
import { answeredOk } from '../transport.js';
import { SCARD } from './pcsc-codes.js';
import { SHARED_SLOTS, type WorkerReply, type WorkerRequest } from './pcsc-thread-protocol.js';

/**
 * A worker thread that owns one PC/SC context and makes its (blocking) calls in order, so
 * a slow card, a held transaction or a hung pcscd blocks this thread only, never the agent's
 * event loop. The main side is pcsc-thread.ts.
 */
const port = parentPort;
if (port === null) throw new Error('pcsc-worker runs as a worker thread');

/**
 * Shared with the main thread (pcsc-thread.ts): [ABANDONED] the highest request id it gave up on
 * (written there); [BEGUN] the highest request id whose transaction has begun (written here), so
 * the main thread can tell "still waiting for another application" from "card slow" without a
 * message per signature.
 */
const shared = new Int32Array((workerData as { shared: SharedArrayBuffer }).shared);
const { ABANDONED, BEGUN } = SHARED_SLOTS;


let native: NativePcsc | undefined;
const pcsc = (): NativePcsc => (native ??= new NativePcsc());

function reply(msg: WorkerReply): void {
  port!.postMessage(msg);
}

function run(req: WorkerRequest): unknown {
  const p = pcsc();
  switch (req.op) {
    case 'establish':
      p.establish();
      return p.contextHandle;
    case 'release':
      p.release();
      return null;
    case 'listReaders':
      return p.listReaders();
    case 'getStatusChange':
      return p.getStatusChange(req.readers, req.timeoutMs);
    case 'connect':
      return p.connect(req.reader, req.shareMode, SCARD.PROTOCOL_T0 | SCARD.PROTOCOL_T1);
    case 'reconnect':
      return p.reconnect(req.card, req.shareMode, SCARD.PROTOCOL_T0 | SCARD.PROTOCOL_T1, req.initialization);
    case 'disconnect':
      p.disconnect(req.card, req.disposition);
      return null;
    case 'end':
      p.endTransaction(req.card, req.disposition);
      return null;
    case 'transmit': {
      if (req.begin) begin(p, req);
      try {
        return p.transmit(req.card, req.protocol, req.apdu);
      } finally {
        // This thread's copy of a PIN-carrying APDU (VERIFY, CHANGE REFERENCE DATA, RESET RETRY COUNTER).
        if (SECRET_INS.has(req.apdu[1] ?? 0)) req.apdu.fill(0);
      }
    }
    case 'transmitSeries': {
      if (req.begin) begin(p, req);
      // Back to back, with no trip to the event loop between them; the first answer other than
      // 9000 ends the series (the caller sees why, and sends the rest itself when it may).
      const out: Uint8Array[] = [];
      try {
        for (const apdu of req.apdus) {
          const r = p.transmit(req.card, req.protocol, apdu);
          out.push(r);
          if (!answeredOk(r)) break;
        }
      } finally {
        for (const apdu of req.apdus) if (SECRET_INS.has(apdu[1] ?? 0)) apdu.fill(0);
      }
      return out;
    }
  }
}

/** SCardBeginTransaction for a request that begins one; let go at once if the agent gave up waiting meanwhile. */
function begin(p: NativePcsc, req: { readonly id: number; readonly card: Parameters<NativePcsc['beginTransaction']>[0] }): void {
  p.beginTransaction(req.card);
  Atomics.store(shared, BEGUN, req.id);
  if (Atomics.load(shared, ABANDONED) >= req.id) {
    // The agent gave up waiting while another application held the card: let it go at once.
    p.endTransaction(req.card, SCARD.LEAVE_CARD);
    throw new PcscCallError('SCardBeginTransaction (given up)', 0x8010000a);
  }
}

port.on('message', (req: WorkerRequest) => {
  try {
    reply({ id: req.id, ok: true, value: run(req) });
  } catch (err) {
    if (err instanceof PcscCallError) reply({ id: req.id, ok: false, error: { kind: 'pcsc', fn: err.fn, code: err.code, message: err.message } });
    else reply({ id: req.id, ok: false, error: { kind: 'other', message: err instanceof Error ? `${err.name}: ${err.message}` : String(err) } });
  }
});

