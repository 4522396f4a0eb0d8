import { describe, expect, it } from 'vitest';
import pino from 'pino';
import { DeferredFrameHandler } from '../../src/cli/deferred-frame-handler.js';
import { DeferredKeyProvider } from '../../src/cli/deferred-key-provider.js';
import type { KeyProvider, RequestContext } from '../../src/agent/key-provider.js';
import type { ConnectionContext } from '../../src/server/frame-handler.js';
import { CardUnavailableError, UnsupportedError } from '../../src/errors.js';

const conn: ConnectionContext = { id: 1, log: pino({ level: 'silent' }) };
const ctx: RequestContext = { conn, sessions: [] };

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

describe('DeferredKeyProvider', () => {
  const provider: KeyProvider = {
    listIdentities: async () => [{ keyBlob: Uint8Array.of(1), comment: 'card' }],
    sign: async () => Uint8Array.of(2),
    addSmartcardKey: async () => undefined,
    removeSmartcardKey: async () => undefined,
  };

  it('waits for the real provider, then delegates; a provider without removeAllIdentities refuses it', async () => {
    const d = new DeferredKeyProvider();
    const list = d.listIdentities(ctx);
    d.resolve(provider);
    expect(await list).toEqual([{ keyBlob: Uint8Array.of(1), comment: 'card' }]);
    expect(await d.sign(Uint8Array.of(1), Uint8Array.of(0), 0, ctx)).toEqual(Uint8Array.of(2));
    await expect(d.removeAllIdentities(ctx)).rejects.toThrow(UnsupportedError);
  });

  it('fails waiting and later requests with a CardUnavailableError naming the cause', async () => {
    const d = new DeferredKeyProvider();
    const list = d.listIdentities(ctx);
    d.reject(new Error('no pcsc library'));
    await expect(list).rejects.toThrow(CardUnavailableError);
    await expect(d.sign(Uint8Array.of(1), Uint8Array.of(0), 0, ctx)).rejects.toThrow('the card layer did not start: no pcsc library');
  });
});
