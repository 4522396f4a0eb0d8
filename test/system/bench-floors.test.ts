import { beforeAll, afterAll, expect, it } from 'vitest';
import { cardFloorUs, internalAuthenticateInput } from '../../src/bench/floors.js';
import { cleanupSystem } from './harness/agent-process.js';
import { PYTHON3 } from './harness/pcsc-peer.js';
import { PcscSandbox, describeWithSandbox } from './harness/pcsc-sandbox.js';

describeWithSandbox('bench floors over pcscd + vpcd: the card alone, through pyscard', [PYTHON3], () => {
  let sandbox: PcscSandbox;

  beforeAll(async () => {
    sandbox = await PcscSandbox.start();
    await sandbox.card(0, 'floor', '--algo', 'ed25519');
  });

  afterAll(async () => {
    await sandbox?.stop();
    await cleanupSystem();
  });

  it('times INTERNAL AUTHENTICATE after SELECT and VERIFY, each answered 9000', async () => {
    const s = await cardFloorUs(sandbox.env(), '00 00', '123456', internalAuthenticateInput('ed25519', new Uint8Array(128).fill(7)), 50);
    expect(s.p50).toBeGreaterThan(0);
    expect(s.p95).toBeGreaterThanOrEqual(s.p50);
  });

  it('a wrong PIN stops the measurement with the card\'s status word', async () => {
    await expect(cardFloorUs(sandbox.env(), '00 00', '654321', new Uint8Array(32), 10)).rejects.toThrow(/00200082: status 63c2/);
  });
});
