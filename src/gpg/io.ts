/** The process's surroundings for the gpg front end, injectable so tests run it in-process. */
export interface GpgIo {
  readonly env: NodeJS.ProcessEnv;
  /** All of standard input. */
  readStdin(): Promise<Uint8Array>;
  writeStdout(data: Uint8Array | string): Promise<void>;
  /** Human-readable messages (what gpg writes to stderr). */
  writeStderr(text: string): Promise<void>;
  /** Writes to a file descriptor named by --status-fd (1 and 2 are stdout and stderr). */
  writeFd(fd: number, text: string): Promise<void>;
  readFile(path: string): Promise<Uint8Array>;
  writeFile(path: string, data: Uint8Array | string): Promise<void>;
  /** Seconds since 1970. */
  now(): number;
  /** Runs GnuPG with these arguments on our stdin/stdout/stderr; resolves with its exit code. */
  runGnupg?(program: string, args: readonly string[]): Promise<number>;
}

/** `[GNUPG:] KEYWORD args` lines on the status fd, as GnuPG's doc/DETAILS describes them. */
export class StatusWriter {
  constructor(
    private readonly io: GpgIo,
    private readonly fd: number | undefined,
  ) {}

  async line(keyword: string, ...args: (string | number)[]): Promise<void> {
    if (this.fd === undefined) return;
    await this.io.writeFd(this.fd, `[GNUPG:] ${[keyword, ...args].join(' ')}\n`);
  }
}
