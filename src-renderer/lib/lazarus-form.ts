// The restart policy and liveness probe part of the app form (app-form.ts holds the rest): the
// text fields, their defaults (proto/lazarus-defaults.ts), and the spec parts they build. The
// AppSpec checks them with the agent's own rules; its messages name the setting
// ("restart jitter must be from 0 to 1"), and fieldOfLazarusIssue puts each beside its field.
// Unit-tested in lazarus-form.spec.ts.
import { LIVENESS_DEFAULTS, RESTART_DEFAULTS, type AppSpec, type AppSpecInput } from '../../src-main/api/contract';
import { parseStatusRange } from '../../proto/lazarus-defaults';

export type LivenessChoice = 'none' | 'http' | 'tcp' | 'exec';

export interface LazarusForm {
  restartInitialBackoffMs: string;
  restartMaxBackoffMs: string;
  restartJitter: string;
  restartResetAfterMs: string;
  restartCrashLoopRestarts: string;
  restartCrashLoopWindowMs: string;
  livenessKind: LivenessChoice;
  livenessPath: string;
  // "200-399" or "204"
  livenessStatus: string;
  // Shell-like words: `sh -c "wget -q -O- localhost:8080/health"`
  livenessCommand: string;
  livenessIntervalMs: string;
  livenessTimeoutMs: string;
  livenessFailureThreshold: string;
  livenessInitialDelayMs: string;
}

// The form key of each restart setting, in the order the editor shows them.
export const RESTART_FIELDS = {
  restartInitialBackoffMs: 'initialBackoffMs',
  restartMaxBackoffMs: 'maxBackoffMs',
  restartJitter: 'jitter',
  restartResetAfterMs: 'resetAfterMs',
  restartCrashLoopRestarts: 'crashLoopRestarts',
  restartCrashLoopWindowMs: 'crashLoopWindowMs',
} as const satisfies Partial<Record<keyof LazarusForm, keyof typeof RESTART_DEFAULTS>>;

export const LIVENESS_NUMBER_FIELDS = {
  livenessIntervalMs: 'intervalMs',
  livenessTimeoutMs: 'timeoutMs',
  livenessFailureThreshold: 'failureThreshold',
  livenessInitialDelayMs: 'initialDelayMs',
} as const satisfies Partial<Record<keyof LazarusForm, keyof typeof LIVENESS_DEFAULTS>>;

export type RestartField = keyof typeof RESTART_FIELDS;
export type LivenessNumberField = keyof typeof LIVENESS_NUMBER_FIELDS;
type RestartKey = (typeof RESTART_FIELDS)[RestartField];
type LivenessNumberKey = (typeof LIVENESS_NUMBER_FIELDS)[LivenessNumberField];

// Defaults of the number fields, keyed by form field (app-form's NUMBER_FIELDS takes them in).
export const LAZARUS_NUMBER_DEFAULTS = {
  restartInitialBackoffMs: RESTART_DEFAULTS.initialBackoffMs,
  restartMaxBackoffMs: RESTART_DEFAULTS.maxBackoffMs,
  restartJitter: RESTART_DEFAULTS.jitter,
  restartResetAfterMs: RESTART_DEFAULTS.resetAfterMs,
  restartCrashLoopRestarts: RESTART_DEFAULTS.crashLoopRestarts,
  restartCrashLoopWindowMs: RESTART_DEFAULTS.crashLoopWindowMs,
  livenessIntervalMs: LIVENESS_DEFAULTS.intervalMs,
  livenessTimeoutMs: LIVENESS_DEFAULTS.timeoutMs,
  livenessFailureThreshold: LIVENESS_DEFAULTS.failureThreshold,
  livenessInitialDelayMs: LIVENESS_DEFAULTS.initialDelayMs,
} as const;

export const LAZARUS_NUMBER_TEXT: Record<keyof typeof LAZARUS_NUMBER_DEFAULTS, { label: string; unit: string; hint?: string }> = {
  restartInitialBackoffMs: { label: 'Back-off start', unit: 'ms', hint: 'then ×2 per restart' },
  restartMaxBackoffMs: { label: 'Back-off cap', unit: 'ms', hint: 'the longest wait' },
  restartJitter: { label: 'Jitter', unit: '0-1', hint: '0.2 = each wait ±20%' },
  restartResetAfterMs: { label: 'Reset after', unit: 'ms', hint: 'of healthy running' },
  restartCrashLoopRestarts: { label: 'Crash loop at', unit: 'restarts', hint: 'within the window' },
  restartCrashLoopWindowMs: { label: 'Crash-loop window', unit: 'ms' },
  livenessIntervalMs: { label: 'Interval', unit: 'ms', hint: 'between two probes' },
  livenessTimeoutMs: { label: 'Timeout', unit: 'ms', hint: 'for one probe' },
  livenessFailureThreshold: { label: 'Restart after', unit: 'failures', hint: 'in a row' },
  livenessInitialDelayMs: { label: 'Initial delay', unit: 'ms', hint: 'after the container starts' },
};

export function statusRangeText(min: number, max: number): string {
  return min === max ? String(min) : `${min}-${max}`;
}

// The defaults written out; the probe off (an app has none until the operator adds one).
export function lazarusInitialForm(): LazarusForm {
  const s = (n: number) => String(n);
  return {
    restartInitialBackoffMs: s(RESTART_DEFAULTS.initialBackoffMs),
    restartMaxBackoffMs: s(RESTART_DEFAULTS.maxBackoffMs),
    restartJitter: s(RESTART_DEFAULTS.jitter),
    restartResetAfterMs: s(RESTART_DEFAULTS.resetAfterMs),
    restartCrashLoopRestarts: s(RESTART_DEFAULTS.crashLoopRestarts),
    restartCrashLoopWindowMs: s(RESTART_DEFAULTS.crashLoopWindowMs),
    livenessKind: 'none',
    livenessPath: LIVENESS_DEFAULTS.path,
    livenessStatus: statusRangeText(LIVENESS_DEFAULTS.statusMin, LIVENESS_DEFAULTS.statusMax),
    livenessCommand: '',
    livenessIntervalMs: s(LIVENESS_DEFAULTS.intervalMs),
    livenessTimeoutMs: s(LIVENESS_DEFAULTS.timeoutMs),
    livenessFailureThreshold: s(LIVENESS_DEFAULTS.failureThreshold),
    livenessInitialDelayMs: s(LIVENESS_DEFAULTS.initialDelayMs),
  };
}

export function lazarusFormFromSpec(spec: Pick<AppSpec, 'restart' | 'liveness'>): LazarusForm {
  const f = lazarusInitialForm();
  for (const [field, key] of Object.entries(RESTART_FIELDS) as [RestartField, RestartKey][]) f[field] = String(spec.restart[key]);
  const l = spec.liveness;
  if (!l) return f;
  f.livenessKind = l.kind;
  f.livenessPath = l.path;
  f.livenessStatus = statusRangeText(l.statusMin, l.statusMax);
  f.livenessCommand = joinCommand(l.command);
  for (const [field, key] of Object.entries(LIVENESS_NUMBER_FIELDS) as [LivenessNumberField, LivenessNumberKey][]) f[field] = String(l[key]);
  return f;
}

// The restart and liveness parts of the spec. `numbers` holds the number fields that parsed
// (an empty field is absent: its default applies); `add` reports a field's own error.
export function buildLazarus(
  form: LazarusForm,
  numbers: Partial<Record<keyof typeof LAZARUS_NUMBER_DEFAULTS, number>>,
  add: (field: keyof LazarusForm, message: string) => void,
): Pick<AppSpecInput, 'restart' | 'liveness'> {
  const restart: NonNullable<AppSpecInput['restart']> = {};
  for (const [field, key] of Object.entries(RESTART_FIELDS) as [RestartField, RestartKey][]) {
    if (numbers[field] !== undefined) restart[key] = numbers[field];
  }
  if (form.livenessKind === 'none') return { restart };

  const liveness: NonNullable<AppSpecInput['liveness']> = { kind: form.livenessKind };
  for (const [field, key] of Object.entries(LIVENESS_NUMBER_FIELDS) as [LivenessNumberField, LivenessNumberKey][]) {
    if (numbers[field] !== undefined) liveness[key] = numbers[field];
  }
  if (form.livenessKind === 'http') {
    if (form.livenessPath.trim()) liveness.path = form.livenessPath.trim();
    if (form.livenessStatus.trim()) {
      try {
        [liveness.statusMin, liveness.statusMax] = parseStatusRange(form.livenessStatus);
      } catch (err) {
        add('livenessStatus', (err as Error).message);
      }
    }
  }
  if (form.livenessKind === 'exec') {
    const words = splitCommand(form.livenessCommand);
    if ('error' in words) add('livenessCommand', words.error);
    else liveness.command = words.argv;
  }
  return { restart, liveness };
}

// The field a restart or liveness message of the AppSpec is about, from the setting it names.
export function fieldOfLazarusIssue(path: readonly PropertyKey[], message: string): keyof LazarusForm | null {
  const section = String(path[0]);
  if (section === 'restart') {
    const m = /^restart (\w+)/.exec(message);
    const hit = Object.entries(RESTART_FIELDS).find(([, key]) => key === (String(path[1] ?? '') || m?.[1]));
    return hit ? (hit[0] as RestartField) : 'restartInitialBackoffMs';
  }
  if (section === 'liveness') {
    const key = String(path[1] ?? '') || (/^liveness (\w+)/.exec(message)?.[1] ?? '');
    if (/command/.test(message) || key === 'command') return 'livenessCommand';
    if (key === 'status' || key === 'statusMin' || key === 'statusMax') return 'livenessStatus';
    if (key === 'path') return 'livenessPath';
    if (key === 'kind') return 'livenessKind';
    const hit = Object.entries(LIVENESS_NUMBER_FIELDS).find(([, k]) => k === key);
    return hit ? (hit[0] as LivenessNumberField) : 'livenessKind';
  }
  return null;
}

// Shell-like words: spaces separate, '…' and "…" group, \ escapes the next character (outside
// single quotes). No expansion of any kind: the words are the argv.
export function splitCommand(text: string): { argv: string[] } | { error: string } {
  const argv: string[] = [];
  let word: string | null = null;
  let quote: '"' | "'" | null = null;
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (quote) {
      if (c === quote) quote = null;
      else if (c === '\\' && quote === '"' && i + 1 < text.length) word += text[++i];
      else word += c;
    } else if (c === '"' || c === "'") {
      quote = c;
      word ??= '';
    } else if (c === '\\' && i + 1 < text.length) {
      word = (word ?? '') + text[++i];
    } else if (/\s/.test(c)) {
      if (word !== null) argv.push(word);
      word = null;
    } else {
      word = (word ?? '') + c;
    }
  }
  if (quote) return { error: `the command has an unclosed ${quote} quote` };
  if (word !== null) argv.push(word);
  if (argv.length === 0) return { error: 'an exec probe needs a command, e.g. sh -c "test -f /tmp/alive"' };
  return { argv };
}

// argv -> the text splitCommand reads back to the same argv.
export function joinCommand(argv: readonly string[]): string {
  return argv.map((w) => (w !== '' && /^[A-Za-z0-9_@%+=:,./-]+$/.test(w) ? w : `'${w.replace(/'/g, `'"'"'`)}'`)).join(' ');
}
