import type { ListenAddress } from '../../server/listen-address.js';

/*
 * `openpgp-card-agent doctor`: a list of checks, each a small function that looks at one thing
 * and says what it found and how to fix it. Checks that need other parts of the program (the
 * PC/SC binding: pcscd, readers, cards, exclusive holders; src/os/network-filesystem.ts: a socket
 * on NFS) are added to CHECKS in ./checks.ts as those parts land, each behind this interface.
 */

/** ok: nothing to do; warn: works, but something the user may want to fix; fail: broken; skip: cannot apply here. */
export type Verdict = 'ok' | 'warn' | 'fail' | 'skip';

export interface Finding {
  readonly verdict: Verdict;
  /** One line: what was found. */
  readonly summary: string;
  /** More lines about it (paths, pids), if any. */
  readonly detail?: readonly string[];
  /** What to do, as lines the user can follow (commands, config lines). */
  readonly fix?: readonly string[];
}

/** What every check may look at; tests build one with a chosen environment. */
export interface DoctorContext {
  readonly env: NodeJS.ProcessEnv;
  readonly platform: NodeJS.Platform;
  readonly uid: number | undefined;
  readonly home: string;
  /** The socket `-s` and `service install` put the agent on. */
  readonly defaultAddress: Extract<ListenAddress, { kind: 'unix' | 'pipe' }>;
  /** Runs a program to completion; undefined when it is not installed. */
  exec(file: string, args: readonly string[], opts?: { env?: NodeJS.ProcessEnv; timeoutMs?: number }): Promise<ExecResult | undefined>;
}

export interface ExecResult {
  readonly code: number | null;
  readonly stdout: string;
  readonly stderr: string;
}

export interface DoctorCheck {
  /** Stable, for --json and tests: "ssh-auth-sock", "scdaemon", ... */
  readonly id: string;
  /** Short name shown before the finding. */
  readonly title: string;
  run(ctx: DoctorContext): Promise<Finding>;
}

export interface CheckReport extends Finding {
  readonly id: string;
  readonly title: string;
}
