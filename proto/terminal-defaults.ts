// Terminal sessions' defaults and limits. Pure: the agent, the control plane, the CLI and the UI
// read these, so each is written once.

export const TERMINAL_DEFAULTS = {
  cols: 80,
  rows: 24,
  term: 'xterm-256color',
} as const;

export const TERMINAL_LIMITS = {
  minCols: 2,
  maxCols: 1_000,
  minRows: 1,
  maxRows: 500,
  // One input message (a paste) at most.
  maxInputBytes: 64 * 1024,
  maxCommandArgs: 256,
} as const;

// Output flow control between the control plane and a client (UI, CLI): the control plane stops
// reading from the agent while more than highWaterChars of output are unacknowledged, and reads
// again below lowWaterChars. A client acknowledges (terminal.ack) once it has shown or written
// the output, at least every ackEveryChars. So a flood (`yes`) slows to the client's pace end to
// end (the agent stops reading from Podman) and no memory grows on the way.
export const TERMINAL_FLOW = {
  highWaterChars: 512 * 1024,
  lowWaterChars: 128 * 1024,
  ackEveryChars: 32 * 1024,
} as const;

// The signed OpenTerminal is valid this long: long enough for a slow SSH link, short enough that
// a captured one is useless soon.
export const OPEN_TERMINAL_TTL_MS = 30_000;

// Into a container without a command: bash when the image has it, else sh.
export const CONTAINER_SHELL = ['/bin/sh', '-c', 'if command -v bash >/dev/null 2>&1; then exec bash -l; else exec sh -l; fi'] as const;

// Ending a session: SIGHUP to every process of the terminal's session, then SIGKILL to what is
// left after this long.
export const TERMINAL_KILL_GRACE_MS = 1_000;

// Recordings are deleted this many days after their session ended, unless the operator sets
// another retention (0 keeps them forever).
export const DEFAULT_RECORDING_RETENTION_DAYS = 90;
export const MAX_RECORDING_RETENTION_DAYS = 36_500;

export interface TerminalSizeProblem {
  field: 'cols' | 'rows';
  message: string;
}

// Empty when the size is one a terminal can have.
export function terminalSizeProblems(cols: number, rows: number): string[] {
  const out: string[] = [];
  const { minCols, maxCols, minRows, maxRows } = TERMINAL_LIMITS;
  if (!Number.isInteger(cols) || cols < minCols || cols > maxCols) out.push(`cols must be a whole number in ${minCols}..${maxCols}, got ${cols}`);
  if (!Number.isInteger(rows) || rows < minRows || rows > maxRows) out.push(`rows must be a whole number in ${minRows}..${maxRows}, got ${rows}`);
  return out;
}
