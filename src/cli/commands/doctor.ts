import { CHECKS } from '../doctor/checks.js';
import type { DoctorCheck, DoctorContext } from '../doctor/check.js';
import { processContext } from '../doctor/context.js';
import { formatReport, reportExitCode, runChecks } from '../doctor/report.js';

export interface DoctorOptions {
  readonly env: NodeJS.ProcessEnv;
  readonly json: boolean;
  readonly stdout: (text: string) => Promise<void>;
  /** Tests may pass their own context or checks. */
  readonly context?: DoctorContext;
  readonly checks?: readonly DoctorCheck[];
}

/** `openpgp-card-agent doctor [--json]`: every check, its verdict and fix; exit 1 when one failed. */
export async function runDoctor(opts: DoctorOptions): Promise<number> {
  const reports = await runChecks(opts.checks ?? CHECKS, opts.context ?? processContext(opts.env));
  if (opts.json) {
    await opts.stdout(`${JSON.stringify({ ok: reportExitCode(reports) === 0, checks: reports }, null, 2)}\n`);
  } else {
    await opts.stdout(formatReport(reports));
  }
  return reportExitCode(reports);
}
