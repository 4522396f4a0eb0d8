import { fstatSync } from 'node:fs';

/**
 * Whether this process was started by a service manager (systemd, launchd) rather than from a
 * shell: then it must stay in the foreground, and its stderr goes to a journal or a file.
 * - systemd sets INVOCATION_ID for every unit it runs (systemd.exec(5)), JOURNAL_STREAM when
 *   stdout/stderr go to the journal, NOTIFY_SOCKET for Type=notify;
 * - launchd sets XPC_SERVICE_NAME to the job's label (shells in Terminal see "0").
 */
export function underServiceManager(env: NodeJS.ProcessEnv): boolean {
  if (nonEmpty(env['INVOCATION_ID']) || nonEmpty(env['JOURNAL_STREAM']) || nonEmpty(env['NOTIFY_SOCKET'])) return true;
  const xpc = env['XPC_SERVICE_NAME'];
  return nonEmpty(xpc) && xpc !== '0';
}

function nonEmpty(v: string | undefined): v is string {
  return v !== undefined && v !== '';
}

/** What a file descriptor is connected to. */
export type FdKind = 'tty' | 'file' | 'pipe' | 'socket' | 'null' | 'other' | 'closed';

/** fstat(2) of `fd`: a terminal, a regular file, a pipe, a socket, /dev/null ... */
export function fdKind(fd: number, isTty: boolean): FdKind {
  if (isTty) return 'tty';
  let st;
  try {
    st = fstatSync(fd);
  } catch {
    return 'closed';
  }
  if (st.isFile()) return 'file';
  if (st.isFIFO()) return 'pipe';
  if (st.isSocket()) return 'socket';
  if (st.isCharacterDevice()) return 'null';
  return 'other';
}

/**
 * True when `fd` is the journal stream systemd connected (JOURNAL_STREAM="DEV:INODE" matches
 * its fstat, as sd_journal_stream_fd(3) describes): then `<N>` priority prefixes are read.
 */
export function isJournalStream(fd: number, env: NodeJS.ProcessEnv): boolean {
  const js = env['JOURNAL_STREAM'];
  if (js === undefined || !/^\d+:\d+$/.test(js)) return false;
  try {
    const st = fstatSync(fd, { bigint: true });
    return js === `${st.dev}:${st.ino}`;
  } catch {
    return false;
  }
}
