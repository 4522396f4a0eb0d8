import pino from 'pino';
import { describe, expect, it } from 'vitest';
import type { CardUsePolicy } from '../../src/agent/extension-handler.js';
import type { RequestContext } from '../../src/agent/key-provider.js';
import { decodeStatusResponse, statusExtension, type CardReport } from '../../src/agent/status-report.js';

const card = (ident: string): CardReport => ({
  ident,
  reader: 'r',
  algorithm: 'EdDSA ed25519',
  fingerprint: null,
  usable: true,
  problem: null,
  pin: { location: 'memory-until-exit', knownBad: false },
  pinRetries: 3,
  blocked: false,
  signatureCounter: 7,
  touch: 'off',
});
const ctxWith = (forwarding: boolean | undefined): RequestContext =>
  ({
    conn: { id: 1, log: pino({ level: 'silent' }) },
    sessions: forwarding === undefined ? [] : [{ hostKey: new Uint8Array(0), hostKeyFingerprint: 'SHA256:x', forwarding, sessionId: new Uint8Array(0) }],
  }) as unknown as RequestContext;
const policy = (listable: string[]): CardUsePolicy => ({ mayList: (i) => listable.includes(i), maySign: async () => true });

describe('the status extension', () => {
  const handler = statusExtension({ cardReports: async () => [card('0006:00000001'), card('0006:00000002')] }, { pid: 42, version: '0.1.0', cardIdleLockSeconds: 5 }, () => [
    { conn: 3, hosts: ['github.com'], forwarded: false, peer: 'ssh (pid 9)' },
  ]);

  it('answers a local connection with the cards it may list, the agent and the bound sessions', async () => {
    const r = decodeStatusResponse(await handler(new Uint8Array(0), ctxWith(undefined), policy(['0006:00000002'])));
    expect(r.agent).toEqual({ pid: 42, version: '0.1.0', cardIdleLockSeconds: 5 });
    expect(r.cards.map((c) => c.ident)).toEqual(['0006:00000002']);
    expect(r.sessions).toEqual([{ conn: 3, hosts: ['github.com'], forwarded: false, peer: 'ssh (pid 9)' }]);
  });

  it('answers nothing through agent forwarding', async () => {
    expect(await handler(new Uint8Array(0), ctxWith(true), policy(['0006:00000001']))).toEqual({ type: 'failure' });
    expect((await handler(new Uint8Array(0), ctxWith(false), policy(['0006:00000001']))).type).toBe('extension-response');
  });
});
