import type { FilesystemInfo } from '../../os/network-filesystem.js';
import type { PinStatus } from '../../pins/keychain-pins.js';
import type { ListenAddress } from '../../server/listen-address.js';
import type { CardSurvey } from './card-survey.js';
import type { PcscClient } from './pcsc-clients.js';

/*
 * `openpgp-card-agent doctor`: a list of checks, each a small function that looks at one thing
 * and says what it found and how to fix it (CHECKS in ./checks.ts). What a check needs from the
 * rest of the program (PC/SC, the filesystem, the PIN stores, /proc) comes through the
 * DoctorContext, so tests can give each check the condition it is about.
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
  /**
   * pcscd, its readers and their cards (bounded: a hung pcscd is an answer). Made once per run:
   * the PC/SC checks share it.
   */
  pcsc(): Promise<CardSurvey>;
  /** The filesystem holding `path` (or its nearest existing ancestor); undefined where the OS cannot tell. */
  filesystemOf(path: string): FilesystemInfo | undefined;
  /** Where the agent would find this card's PIN (the pins module, read-only: nothing is stored or removed). */
  pinStatus(ident: string): Promise<PinStatus>;
  /** Running programs with the PC/SC library loaded that use the pcscd at `socket` (empty where /proc is missing). */
  pcscClients(socket: string): readonly PcscClient[];
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
