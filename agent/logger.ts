// JSON logs through pino to a file destination (no worker-thread transports: they do not
// survive bundling into one file).
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import pino, { type Logger } from 'pino';
import { AGENT_LOG_FILE } from '../proto/agent-config';

export type { Logger };

export const DEFAULT_LOG_LEVEL = 'info';

export function fileLogger(logDir: string, level: string = DEFAULT_LOG_LEVEL, file = AGENT_LOG_FILE): Logger {
  mkdirSync(logDir, { recursive: true });
  // sync: every line is on disk before the call returns, also when the process is killed next.
  return pino({ level, base: { pid: process.pid } }, pino.destination({ dest: join(logDir, file), sync: true, mkdir: true }));
}

export function stdoutLogger(level: string = DEFAULT_LOG_LEVEL): Logger {
  return pino({ level, base: { pid: process.pid } }, pino.destination({ dest: 1, sync: true }));
}
