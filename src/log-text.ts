/**
 * Readable log lines from pino's JSON records, for terminals, files and the systemd journal.
 * A pino destination: pino writes one JSON line per record, we write one text line.
 */

/** How a text line starts: a short local time (terminal), an ISO time (file), or a priority (journald). */
export type TextStyle = 'tty' | 'file' | 'journal';

/** Where formatted lines go: a string sink, such as a file or fd 2. */
export interface LineSink {
  write(line: string): void;
}

const LEVEL_NAMES: Readonly<Record<number, string>> = { 10: 'TRACE', 20: 'DEBUG', 30: 'INFO', 40: 'WARN', 50: 'ERROR', 60: 'FATAL' };

/** sd-daemon(3) priorities, as `<N>` prefixes journald reads from a service's stderr. */
const JOURNAL_PRIORITY: Readonly<Record<number, number>> = { 10: 7, 20: 7, 30: 6, 40: 4, 50: 3, 60: 2 };

const COLOURS: Readonly<Record<number, string>> = { 10: '\x1b[90m', 20: '\x1b[36m', 30: '\x1b[32m', 40: '\x1b[33m', 50: '\x1b[31m', 60: '\x1b[35m' };

/** Record fields that the line's head already shows, or that say nothing to a reader. */
const HEAD_FIELDS = new Set(['level', 'time', 'pid', 'hostname', 'msg', 'target', 'conn']);

function pad2(n: number): string {
  return String(n).padStart(2, '0');
}

function shortTime(ms: number): string {
  const d = new Date(ms);
  return `${pad2(d.getHours())}:${pad2(d.getMinutes())}:${pad2(d.getSeconds())}.${String(d.getMilliseconds()).padStart(3, '0')}`;
}

/** A field value as one word: bare when it is plain, JSON-quoted otherwise. */
function fieldValue(v: unknown): string {
  if (typeof v === 'number' || typeof v === 'boolean' || v === null) return String(v);
  if (typeof v === 'string') return /^[\w.:/@+-]+$/.test(v) ? v : JSON.stringify(v);
  // pino's err serializer: the message says it; the stack is for JSON logs and trace level.
  if (typeof v === 'object' && v !== undefined && 'message' in v && typeof (v as { message: unknown }).message === 'string') {
    return JSON.stringify((v as { message: string }).message);
  }
  return JSON.stringify(v);
}

/** One pino record (parsed JSON) as one text line, without the newline. */
export function formatRecord(rec: Record<string, unknown>, style: TextStyle, colour = false): string {
  const level = typeof rec['level'] === 'number' ? rec['level'] : 30;
  const name = LEVEL_NAMES[level] ?? String(level);
  const time = typeof rec['time'] === 'number' ? rec['time'] : Date.now();
  const parts: string[] = [];
  if (style === 'journal') {
    parts.push(`<${JOURNAL_PRIORITY[level] ?? 6}>${name}`);
  } else {
    parts.push(style === 'tty' ? shortTime(time) : new Date(time).toISOString());
    parts.push(colour ? `${COLOURS[level] ?? ''}${name.padEnd(5)}\x1b[0m` : name.padEnd(5));
  }
  if (typeof rec['target'] === 'string') parts.push(`[${rec['target']}]`);
  if (rec['conn'] !== undefined) parts.push(`conn=${fieldValue(rec['conn'])}`);
  if (typeof rec['msg'] === 'string' && rec['msg'] !== '') parts.push(rec['msg']);
  for (const [k, v] of Object.entries(rec)) {
    if (HEAD_FIELDS.has(k) || v === undefined) continue;
    parts.push(`${k}=${fieldValue(v)}`);
  }
  // A message or value with a newline would split the record; journald would read two entries.
  return parts.join(' ').replace(/\r?\n/g, '\\n');
}

/**
 * A pino destination writing text lines to `sink`. pino hands us complete JSON lines; a line
 * that is not JSON (it should not happen) is passed on as it is.
 */
export class TextDestination {
  constructor(
    private readonly sink: LineSink,
    private readonly style: TextStyle,
    private readonly colour = false,
  ) {}

  write(chunk: string): void {
    for (const line of chunk.split('\n')) {
      if (line === '') continue;
      let rec: Record<string, unknown>;
      try {
        rec = JSON.parse(line) as Record<string, unknown>;
      } catch {
        this.sink.write(`${line}\n`);
        continue;
      }
      this.sink.write(`${formatRecord(rec, this.style, this.colour)}\n`);
    }
  }
}
