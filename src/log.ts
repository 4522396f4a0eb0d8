import pino, { type Logger } from 'pino';

/** Log targets, as DEBUG/RUST_LOG directives name them. */
export const LOG_TARGETS = ['server', 'protocol', 'agent', 'card', 'pcsc', 'pins', 'notify', 'simulator', 'cli'] as const;
export type LogTarget = (typeof LOG_TARGETS)[number];
export type { Logger };

let root: Logger = pino({ level: 'silent' });

/** Replaces the root logger (the CLI does this at start-up). */
export function setRootLogger(logger: Logger): void {
  root = logger;
}

/** A child logger for one component. */
export function getLogger(target: LogTarget): Logger {
  return root.child({ target });
}
