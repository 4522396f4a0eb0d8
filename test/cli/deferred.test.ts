import { describe, expect, it } from 'vitest';
import pino from 'pino';
import { DeferredFrameHandler } from '../../src/cli/deferred-frame-handler.js';
import type { ConnectionContext } from '../../src/server/frame-handler.js';

const conn: ConnectionContext = { id: 1, log: pino({ level: 'silent' }) };

describe('DeferredFrameHandler', () => {
  it('holds frames until the agent is there, then hands them on in order; closes go through once loaded', async () => {
    const d = new DeferredFrameHandler();
    const seen: number[] = [];
    const closed: number[] = [];
    const first = d.handleFrame(Uint8Array.of(11), conn);
    const second = d.handleFrame(Uint8Array.of(12), conn);
    d.connectionClosed(conn); // before the agent: nothing to tell
    d.resolve({
      handleFrame: async (body) => {
        seen.push(body[0]!);
        return Uint8Array.of(body[0]! + 100);
      },
      connectionClosed: (c) => void closed.push(c.id),
    });
    expect(await first).toEqual(Uint8Array.of(111));
    expect(await second).toEqual(Uint8Array.of(112));
    expect(seen).toEqual([11, 12]);
    d.connectionClosed(conn);
    expect(closed).toEqual([1]);
  });

  it('answers SSH_AGENT_FAILURE when the agent cannot be loaded', async () => {
    const d = new DeferredFrameHandler();
    const waiting = d.handleFrame(Uint8Array.of(11), conn);
    d.fail();
    expect(await waiting).toEqual(Uint8Array.of(5));
  });
});
