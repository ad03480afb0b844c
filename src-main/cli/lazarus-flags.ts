// The flags of `app create` and `app update` for Lazarus: the liveness probe and the restart
// policy. Parsed and checked here, with the same rules the control plane and the agent apply,
// so malformed settings are refused before anything is sent.
import type { Command } from 'commander';
import { LIVENESS_DEFAULTS, parseStatusRange, RESTART_DEFAULTS } from '../../proto/lazarus-defaults';
import { ApiError, AppSpec, LivenessProbe, RestartPolicy } from '../api/contract';

export interface LazarusFlags {
  // commander: a string for --liveness SPEC, false for --no-liveness.
  liveness?: string | false;
  livenessStatus?: string;
  livenessInterval?: string;
  livenessTimeout?: string;
  livenessThreshold?: string;
  livenessDelay?: string;
  restartBackoff?: string;
  restartMaxBackoff?: string;
  restartJitter?: string;
  restartReset?: string;
  crashLoop?: string;
}

type Liveness = NonNullable<AppSpec['liveness']>;
type Restart = AppSpec['restart'];
export interface LazarusSettings {
  restart: Restart;
  liveness?: Liveness;
}

const PROBE_FLAGS = {
  livenessStatus: '--liveness-status',
  livenessInterval: '--liveness-interval',
  livenessTimeout: '--liveness-timeout',
  livenessThreshold: '--liveness-threshold',
  livenessDelay: '--liveness-delay',
} as const;
const RESTART_FLAGS = {
  restartBackoff: '--restart-backoff',
  restartMaxBackoff: '--restart-max-backoff',
  restartJitter: '--restart-jitter',
  restartReset: '--restart-reset',
  crashLoop: '--crash-loop',
} as const;

// Which flag sets a field, to name it in an error.
const FIELD_FLAG: Record<string, string> = {
  kind: '--liveness',
  path: '--liveness',
  command: '--liveness',
  statusMin: '--liveness-status',
  statusMax: '--liveness-status',
  status: '--liveness-status',
  intervalMs: '--liveness-interval',
  timeoutMs: '--liveness-timeout',
  failureThreshold: '--liveness-threshold',
  initialDelayMs: '--liveness-delay',
  initialBackoffMs: '--restart-backoff',
  maxBackoffMs: '--restart-max-backoff',
  jitter: '--restart-jitter',
  resetAfterMs: '--restart-reset',
  crashLoopRestarts: '--crash-loop',
  crashLoopWindowMs: '--crash-loop',
};

const LIVENESS_HINT = 'write --liveness http:/PATH, --liveness tcp or --liveness "exec:COMMAND ARGS"; nothing was changed';

export function addLazarusOptions(cmd: Command): Command {
  return cmd
    .option('--liveness <probe>', `liveness probe: http[:/PATH] (default path ${LIVENESS_DEFAULTS.path}), tcp, or "exec:COMMAND ARGS"; a container failing it is restarted`)
    .option('--no-liveness', 'no liveness probe (a dead container is still restarted)')
    .option('--liveness-status <range>', `HTTP statuses that pass, e.g. 200-399 (default ${LIVENESS_DEFAULTS.statusMin}-${LIVENESS_DEFAULTS.statusMax})`)
    .option('--liveness-interval <ms>', `time between probes (default ${LIVENESS_DEFAULTS.intervalMs})`)
    .option('--liveness-timeout <ms>', `a probe fails past this (default ${LIVENESS_DEFAULTS.timeoutMs})`)
    .option('--liveness-threshold <n>', `failures in a row that restart the container (default ${LIVENESS_DEFAULTS.failureThreshold})`)
    .option('--liveness-delay <ms>', `after each start, before the first probe (default ${LIVENESS_DEFAULTS.initialDelayMs})`)
    .option('--restart-backoff <ms>', `wait before the second restart; each next one doubles (default ${RESTART_DEFAULTS.initialBackoffMs})`)
    .option('--restart-max-backoff <ms>', `the longest wait between restarts (default ${RESTART_DEFAULTS.maxBackoffMs})`)
    .option('--restart-jitter <fraction>', `random spread of each wait, e.g. 0.2 for +-20% (default ${RESTART_DEFAULTS.jitter})`)
    .option('--restart-reset <ms>', `running this long resets the back-off (default ${RESTART_DEFAULTS.resetAfterMs})`)
    .option('--crash-loop <n/window_ms>', `this many restarts within the window mark a crash loop (default ${RESTART_DEFAULTS.crashLoopRestarts}/${RESTART_DEFAULTS.crashLoopWindowMs})`);
}

export function hasLazarusFlags(f: LazarusFlags): boolean {
  return f.liveness !== undefined || [...Object.keys(PROBE_FLAGS), ...Object.keys(RESTART_FLAGS)].some((k) => f[k as keyof LazarusFlags] !== undefined);
}

// The current settings with the flags applied. --liveness sets the probe's kind and target and
// keeps the current probe's timing; --no-liveness removes it. Throws an ApiError naming the flag
// (nothing is changed); pure.
export function applyLazarusFlags(current: LazarusSettings, f: LazarusFlags): LazarusSettings {
  const restart = applyRestartFlags(current.restart, f);
  const probeFlags = (Object.keys(PROBE_FLAGS) as (keyof typeof PROBE_FLAGS)[]).filter((k) => f[k] !== undefined);
  if (f.liveness === false) {
    if (probeFlags.length) throw invalid(`${PROBE_FLAGS[probeFlags[0]]} cannot go with --no-liveness`, 'drop one of them; nothing was changed');
    return { restart };
  }
  let liveness: Liveness | undefined = current.liveness;
  if (typeof f.liveness === 'string') liveness = { ...LIVENESS_DEFAULTS, command: [], ...timingOf(current.liveness), ...probeTarget(f.liveness, current.liveness) } as Liveness;
  if (!liveness) {
    if (probeFlags.length) throw invalid(`${PROBE_FLAGS[probeFlags[0]]} needs a liveness probe: the app has none`, `add --liveness http:/PATH, tcp or "exec:COMMAND ARGS"; nothing was changed`);
    return { restart };
  }
  const next: Record<string, unknown> = { ...liveness };
  if (f.livenessStatus !== undefined) {
    try {
      [next.statusMin, next.statusMax] = parseStatusRange(f.livenessStatus);
    } catch (err) {
      throw invalid(`--liveness-status: ${(err as Error).message}`);
    }
    if (next.kind !== 'http') throw invalid(`--liveness-status applies to an HTTP probe, not a ${String(next.kind)} probe`);
  }
  if (f.livenessInterval !== undefined) next.intervalMs = wholeNumber('--liveness-interval', f.livenessInterval, 'milliseconds');
  if (f.livenessTimeout !== undefined) next.timeoutMs = wholeNumber('--liveness-timeout', f.livenessTimeout, 'milliseconds');
  if (f.livenessThreshold !== undefined) next.failureThreshold = wholeNumber('--liveness-threshold', f.livenessThreshold, 'failures');
  if (f.livenessDelay !== undefined) next.initialDelayMs = wholeNumber('--liveness-delay', f.livenessDelay, 'milliseconds');
  const parsed = LivenessProbe.safeParse(next);
  if (!parsed.success) throw fromIssues(parsed.error.issues);
  return { restart, liveness: parsed.data };
}

function applyRestartFlags(current: Restart, f: LazarusFlags): Restart {
  const next: Record<string, number> = { ...current };
  if (f.restartBackoff !== undefined) next.initialBackoffMs = wholeNumber('--restart-backoff', f.restartBackoff, 'milliseconds');
  if (f.restartMaxBackoff !== undefined) next.maxBackoffMs = wholeNumber('--restart-max-backoff', f.restartMaxBackoff, 'milliseconds');
  if (f.restartJitter !== undefined) {
    if (!/^\d+(\.\d+)?$/.test(f.restartJitter.trim())) throw invalid(`--restart-jitter: "${f.restartJitter}" is not a fraction`, 'write e.g. 0.2 for +-20%, or 0 for none; nothing was changed');
    next.jitter = Number(f.restartJitter);
  }
  if (f.restartReset !== undefined) next.resetAfterMs = wholeNumber('--restart-reset', f.restartReset, 'milliseconds');
  if (f.crashLoop !== undefined) {
    const m = /^(\d+)\/(\d+)$/.exec(f.crashLoop.trim());
    if (!m) throw invalid(`--crash-loop: "${f.crashLoop}" is not N/WINDOW_MS`, 'write e.g. 5/600000: 5 restarts within 10 minutes; nothing was changed');
    next.crashLoopRestarts = Number(m[1]);
    next.crashLoopWindowMs = Number(m[2]);
  }
  const parsed = RestartPolicy.safeParse(next);
  if (!parsed.success) throw fromIssues(parsed.error.issues);
  return parsed.data;
}

// "http", "http:/healthz", "tcp", "exec:cat /tmp/ok" -> kind and target; checked by the schema.
export function probeTarget(text: string, current?: Liveness): Partial<Liveness> {
  const colon = text.indexOf(':');
  const kind = (colon < 0 ? text : text.slice(0, colon)).trim();
  const rest = colon < 0 ? '' : text.slice(colon + 1);
  if (kind === 'http') {
    const path = rest.trim() || (current?.kind === 'http' ? current.path : LIVENESS_DEFAULTS.path);
    const status = current?.kind === 'http' ? { statusMin: current.statusMin, statusMax: current.statusMax } : {};
    return { kind: 'http', path, ...status };
  }
  if (kind === 'tcp') {
    if (rest.trim()) throw invalid(`--liveness: a tcp probe takes no target (got "${rest.trim()}")`, "it connects to the app's port: write --liveness tcp; nothing was changed");
    return { kind: 'tcp' };
  }
  if (kind === 'exec') {
    const command = splitWords(rest);
    if (command.length === 0) throw invalid('--liveness: an exec probe needs a command', 'write e.g. --liveness "exec:cat /tmp/ok"; nothing was changed');
    return { kind: 'exec', command };
  }
  throw invalid(`--liveness: "${text}" is not a probe`, LIVENESS_HINT);
}

function timingOf(l: Liveness | undefined): Partial<Liveness> {
  if (!l) return {};
  return { intervalMs: l.intervalMs, timeoutMs: l.timeoutMs, failureThreshold: l.failureThreshold, initialDelayMs: l.initialDelayMs };
}

// Words split on blanks; '...' and "..." keep blanks inside a word.
export function splitWords(text: string): string[] {
  const words: string[] = [];
  let word = '';
  let quote: string | null = null;
  let inWord = false;
  for (const ch of text) {
    if (quote) {
      if (ch === quote) quote = null;
      else word += ch;
    } else if (ch === '"' || ch === "'") {
      quote = ch;
      inWord = true;
    } else if (/\s/.test(ch)) {
      if (inWord) words.push(word);
      word = '';
      inWord = false;
    } else {
      word += ch;
      inWord = true;
    }
  }
  if (quote) throw invalid(`--liveness: the command has an unclosed ${quote}`, 'close the quote; nothing was changed');
  if (inWord) words.push(word);
  return words;
}

function wholeNumber(flag: string, text: string, unit: string): number {
  if (!/^\d+$/.test(text.trim())) throw invalid(`${flag}: "${text}" is not a whole number of ${unit}`, 'nothing was changed');
  return Number(text);
}

function fromIssues(issues: { message: string; path: PropertyKey[] }[]): ApiError {
  const issue = issues[0];
  const field = issue.path.length ? String(issue.path[0]) : /(?:liveness|restart) (\w+)/.exec(issue.message)?.[1] ?? '';
  const flag = FIELD_FLAG[field] ?? (issue.message.includes('liveness') ? '--liveness' : '--restart');
  return invalid(`${flag}: ${issue.message}`);
}

function invalid(message: string, hint = 'nothing was changed'): ApiError {
  return new ApiError('invalid_input', message, hint);
}
