import type { CheckReport, DoctorCheck, DoctorContext, Verdict } from './check.js';

/** Runs every check; a check that throws is reported as failed with its error, the others go on. */
export async function runChecks(checks: readonly DoctorCheck[], ctx: DoctorContext): Promise<CheckReport[]> {
  const out: CheckReport[] = [];
  for (const c of checks) {
    try {
      out.push({ id: c.id, title: c.title, ...(await c.run(ctx)) });
    } catch (err) {
      out.push({ id: c.id, title: c.title, verdict: 'fail', summary: `the check itself failed: ${err instanceof Error ? err.message : String(err)}` });
    }
  }
  return out;
}

const MARK: Readonly<Record<Verdict, string>> = { ok: '[ ok ]', warn: '[warn]', fail: '[FAIL]', skip: '[ -- ]' };

/** The report for a person. */
export function formatReport(reports: readonly CheckReport[]): string {
  const lines: string[] = [];
  const width = Math.max(...reports.map((r) => r.title.length));
  for (const r of reports) {
    lines.push(`${MARK[r.verdict]} ${r.title.padEnd(width)}  ${r.summary}`);
    const indent = ' '.repeat(MARK.ok.length + 1 + width + 2);
    for (const d of r.detail ?? []) lines.push(`${indent}${d}`);
    if (r.fix !== undefined && r.fix.length > 0 && r.verdict !== 'ok') {
      lines.push(`${indent}fix: ${r.fix[0]}`);
      for (const f of r.fix.slice(1)) lines.push(`${indent}     ${f}`);
    }
  }
  const fails = reports.filter((r) => r.verdict === 'fail').length;
  const warns = reports.filter((r) => r.verdict === 'warn').length;
  lines.push('');
  lines.push(fails + warns === 0 ? 'No problems found.' : `${count(fails, 'problem')}, ${count(warns, 'warning')}.`);
  return `${lines.join('\n')}\n`;
}

function count(n: number, word: string): string {
  return `${n} ${word}${n === 1 ? '' : 's'}`;
}

/** Exit status: 1 when a check failed. */
export function reportExitCode(reports: readonly CheckReport[]): number {
  return reports.some((r) => r.verdict === 'fail') ? 1 : 0;
}
