import { describe, expect, it } from 'vitest';
import { runDoctor } from '../../src/cli/commands/doctor.js';
import type { DoctorCheck, DoctorContext } from '../../src/cli/doctor/check.js';
import { formatReport, reportExitCode, runChecks } from '../../src/cli/doctor/report.js';
import { configOptions } from '../../src/cli/doctor/scdaemon-check.js';

const ctx: DoctorContext = {
  env: {},
  platform: 'linux',
  uid: 1000,
  home: '/home/u',
  defaultAddress: { kind: 'unix', path: '/run/user/1000/openpgp-card-agent/agent.sock' },
  exec: async () => undefined,
  pcsc: async () => ({ kind: 'no-service', message: 'SCardEstablishContext: SCARD_E_NO_SERVICE' }),
  filesystemOf: () => undefined,
  pinStatus: async () => ({ location: 'none' }),
  pcscClients: () => [],
};

const check = (id: string, run: DoctorCheck['run']): DoctorCheck => ({ id, title: id, run });

describe('doctor report', () => {
  it('runs every check; one that throws fails with its error and the others still run', async () => {
    const reports = await runChecks(
      [
        check('a', async () => ({ verdict: 'ok', summary: 'fine' })),
        check('b', async () => {
          throw new Error('boom');
        }),
        check('c', async () => ({ verdict: 'warn', summary: 'hmm', detail: ['d1'], fix: ['do this', 'then that'] })),
      ],
      ctx,
    );
    expect(reports.map((r) => [r.id, r.verdict, r.summary])).toEqual([
      ['a', 'ok', 'fine'],
      ['b', 'fail', 'the check itself failed: boom'],
      ['c', 'warn', 'hmm'],
    ]);
    expect(reportExitCode(reports)).toBe(1);
    expect(formatReport(reports)).toBe(
      ['[ ok ] a  fine', '[FAIL] b  the check itself failed: boom', '[warn] c  hmm', '          d1', '          fix: do this', '               then that', '', '1 problem, 1 warning.', ''].join('\n'),
    );
  });

  it('exits 0 with warnings only, and prints JSON with --json', async () => {
    let out = '';
    const code = await runDoctor({ env: {}, json: true, stdout: async (s) => void (out += s), context: ctx, checks: [check('w', async () => ({ verdict: 'warn', summary: 'w' }))] });
    expect(code).toBe(0);
    expect(JSON.parse(out)).toEqual({ ok: true, checks: [{ id: 'w', title: 'w', verdict: 'warn', summary: 'w' }] });
  });
});

describe('GnuPG config files', () => {
  it('reads option names, skipping comments and blank lines', () => {
    expect([...configOptions('# pcsc-shared\n\n  disable-ccid  \nreader-port Yubico\nPCSC-SHARED\n')]).toEqual(['disable-ccid', 'reader-port', 'pcsc-shared']);
  });
});
