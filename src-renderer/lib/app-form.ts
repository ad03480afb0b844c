// The Create App form's pure logic: the text fields -> an AppSpec input, validated with the
// contract's own AppSpec so that the UI shows the schema's messages, field by field. Unit-tested
// in app-form.spec.ts.
import { ApiError, AppSpec, DEPLOY_DEFAULTS, HEALTH_DEFAULTS, type AppSpecInput } from '../../src-main/api/contract';
import { buildLazarus, fieldOfLazarusIssue, LAZARUS_NUMBER_DEFAULTS, LAZARUS_NUMBER_TEXT, lazarusFormFromSpec, lazarusInitialForm, type LazarusForm } from './lazarus-form';

// Every field as typed. Numbers stay text until submit: an empty one means "the default".
// The restart policy and liveness probe fields are LazarusForm's (lazarus-form.ts).
export interface AppForm extends LazarusForm {
  name: string;
  node: string;
  sourceKind: 'image' | 'git';
  image: string;
  gitUrl: string;
  gitRef: string;
  containerfile: string;
  port: string;
  domains: string;
  env: string;
  healthKind: 'http' | 'tcp';
  healthPath: string;
  intervalMs: string;
  timeoutMs: string;
  healthyThreshold: string;
  unhealthyThreshold: string;
  startPeriodMs: string;
  deadlineMs: string;
  stopGraceMs: string;
  drainMs: string;
  cpus: string;
  memoryMb: string;
}

// The form's keys that hold a number, with the default shown for each (null: no limit).
export const NUMBER_FIELDS = {
  port: DEPLOY_DEFAULTS.port,
  intervalMs: HEALTH_DEFAULTS.intervalMs,
  timeoutMs: HEALTH_DEFAULTS.timeoutMs,
  healthyThreshold: HEALTH_DEFAULTS.healthyThreshold,
  unhealthyThreshold: HEALTH_DEFAULTS.unhealthyThreshold,
  startPeriodMs: HEALTH_DEFAULTS.startPeriodMs,
  deadlineMs: HEALTH_DEFAULTS.deadlineMs,
  stopGraceMs: DEPLOY_DEFAULTS.stopGraceMs,
  drainMs: DEPLOY_DEFAULTS.drainMs,
  cpus: null,
  memoryMb: null,
  ...LAZARUS_NUMBER_DEFAULTS,
} as const satisfies Partial<Record<keyof AppForm, number | null>>;
export type NumberField = keyof typeof NUMBER_FIELDS;

// How each number field is shown (the create dialog and the configuration editor share it).
const NUMBER_FIELD_TEXT: Record<NumberField, { label: string; unit: string; hint?: string }> = {
  port: { label: 'Container port', unit: '', hint: 'the app listens on' },
  intervalMs: { label: 'Interval', unit: 'ms', hint: 'between two checks' },
  timeoutMs: { label: 'Timeout', unit: 'ms', hint: 'for one check' },
  healthyThreshold: { label: 'Healthy after', unit: 'checks', hint: 'passing in a row' },
  unhealthyThreshold: { label: 'Unhealthy after', unit: 'checks', hint: 'failing in a row' },
  startPeriodMs: { label: 'Start period', unit: 'ms', hint: 'failures not counted' },
  deadlineMs: { label: 'Deadline', unit: 'ms', hint: 'to become healthy' },
  stopGraceMs: { label: 'Stop grace', unit: 'ms', hint: 'SIGTERM → SIGKILL' },
  drainMs: { label: 'Drain', unit: 'ms', hint: 'in-flight requests finish' },
  cpus: { label: 'CPUs', unit: 'cores' },
  memoryMb: { label: 'Memory', unit: 'MiB' },
  ...LAZARUS_NUMBER_TEXT,
};

export interface NumberFieldView {
  key: NumberField;
  label: string;
  unit: string;
  def: number | null;
  hint?: string;
}

export const HEALTH_NUMBER_FIELDS: NumberField[] = ['intervalMs', 'timeoutMs', 'healthyThreshold', 'unhealthyThreshold', 'startPeriodMs', 'deadlineMs'];

export function numberFieldView(key: NumberField): NumberFieldView {
  return { key, def: NUMBER_FIELDS[key], ...NUMBER_FIELD_TEXT[key] };
}

export function defaultText(n: NumberFieldView): string {
  return n.def === null ? 'no limit' : n.unit === 'ms' ? formatMs(n.def) : String(n.def);
}

// The advanced fields (collapsed by default): an error there opens the section.
export const ADVANCED_FIELDS: (keyof AppForm)[] = [
  'healthKind',
  'intervalMs',
  'timeoutMs',
  'healthyThreshold',
  'unhealthyThreshold',
  'startPeriodMs',
  'deadlineMs',
  'stopGraceMs',
  'drainMs',
  'cpus',
  'memoryMb',
  'containerfile',
];

// A fresh form, every default written out so that the operator sees it.
export function initialForm(node = ''): AppForm {
  const s = (n: number) => String(n);
  return {
    name: '',
    node,
    sourceKind: 'image',
    image: '',
    gitUrl: '',
    gitRef: 'main',
    containerfile: 'Containerfile',
    port: s(DEPLOY_DEFAULTS.port),
    domains: '',
    env: '',
    healthKind: 'http',
    healthPath: HEALTH_DEFAULTS.path,
    intervalMs: s(HEALTH_DEFAULTS.intervalMs),
    timeoutMs: s(HEALTH_DEFAULTS.timeoutMs),
    healthyThreshold: s(HEALTH_DEFAULTS.healthyThreshold),
    unhealthyThreshold: s(HEALTH_DEFAULTS.unhealthyThreshold),
    startPeriodMs: s(HEALTH_DEFAULTS.startPeriodMs),
    deadlineMs: s(HEALTH_DEFAULTS.deadlineMs),
    stopGraceMs: s(DEPLOY_DEFAULTS.stopGraceMs),
    drainMs: s(DEPLOY_DEFAULTS.drainMs),
    cpus: '',
    memoryMb: '',
    ...lazarusInitialForm(),
  };
}

// "a.example.com, b.example.com www.example.com" -> the list, without blanks or repeats.
export function parseDomains(text: string): string[] {
  const seen = new Set<string>();
  const out: string[] = [];
  for (const d of text.split(/[\s,;]+/)) {
    if (!d || seen.has(d.toLowerCase())) continue;
    seen.add(d.toLowerCase());
    out.push(d);
  }
  return out;
}

// KEY=VALUE lines -> an env map. Blank lines and # comments are skipped; the value is kept
// verbatim (it may contain "=" and spaces); a later line wins over an earlier one. Keys are
// checked by the AppSpec (so the schema's messages show); a line without "=" is an error here.
export function parseEnvText(text: string): { env: Record<string, string>; errors: string[] } {
  const env: Record<string, string> = {};
  const errors: string[] = [];
  text.split(/\r?\n/).forEach((raw, i) => {
    const line = raw.replace(/^\s+/, '');
    if (!line.trim() || line.startsWith('#')) return;
    const eq = line.indexOf('=');
    if (eq < 1) {
      errors.push(`line ${i + 1}: '${line.trim()}' is not KEY=VALUE`);
      return;
    }
    env[line.slice(0, eq).trim()] = line.slice(eq + 1);
  });
  return { env, errors };
}

// "" -> undefined (the default); "1500" -> 1500; "abc" -> NaN (reported as not a number).
function num(text: string): number | undefined {
  const t = text.trim();
  return t === '' ? undefined : Number(t);
}

export type FieldErrors = Partial<Record<keyof AppForm, string>>;

// Maps a zod issue path of the AppSpec to the form field that holds it.
export function fieldOfPath(path: readonly PropertyKey[], sourceKind: AppForm['sourceKind']): keyof AppForm | null {
  const [a, b] = path.map(String);
  switch (a) {
    case 'name':
    case 'node':
    case 'port':
    case 'domains':
    case 'env':
    case 'stopGraceMs':
    case 'drainMs':
    case 'cpus':
    case 'memoryMb':
      return a;
    case 'source':
      if (b === 'image') return 'image';
      if (b === 'url') return 'gitUrl';
      if (b === 'ref') return 'gitRef';
      if (b === 'containerfile') return 'containerfile';
      return sourceKind === 'image' ? 'image' : 'gitUrl';
    case 'health':
      if (b === 'path') return 'healthPath';
      if (b === 'kind') return 'healthKind';
      if (b && b in NUMBER_FIELDS) return b as NumberField;
      return 'healthPath';
    default:
      return null;
  }
}

export type BuildResult = { ok: true; spec: AppSpecInput } | { ok: false; errors: FieldErrors };

// The form -> the spec to send, or the errors to show beside each field (first message wins).
export function buildSpec(form: AppForm): BuildResult {
  const errors: FieldErrors = {};
  // One message per field, except the lists: every bad domain or env entry is named.
  const add = (field: keyof AppForm, message: string) => {
    if (!errors[field]) errors[field] = message;
    else if ((field === 'env' || field === 'domains') && !errors[field].includes(message)) errors[field] += `; ${message}`;
  };

  const numbers: Partial<Record<NumberField, number>> = {};
  for (const key of Object.keys(NUMBER_FIELDS) as NumberField[]) {
    const v = num(form[key]);
    if (v === undefined) continue;
    if (!Number.isFinite(v)) add(key, `'${form[key].trim()}' is not a number`);
    else numbers[key] = v;
  }

  const { env, errors: envErrors } = parseEnvText(form.env);
  if (envErrors.length) add('env', envErrors.join('; '));
  const domains = parseDomains(form.domains);

  const health: NonNullable<AppSpecInput['health']> = { kind: form.healthKind };
  if (form.healthPath.trim()) health.path = form.healthPath.trim();
  for (const k of ['intervalMs', 'timeoutMs', 'healthyThreshold', 'unhealthyThreshold', 'startPeriodMs', 'deadlineMs'] as const) {
    if (numbers[k] !== undefined) health[k] = numbers[k];
  }

  const lazarus = buildLazarus(form, numbers, add);

  const spec: AppSpecInput = {
    ...lazarus,
    name: form.name.trim(),
    node: form.node,
    source:
      form.sourceKind === 'image'
        ? { kind: 'image', image: form.image.trim() }
        : {
            kind: 'git',
            url: form.gitUrl.trim(),
            ...(form.gitRef.trim() ? { ref: form.gitRef.trim() } : {}),
            ...(form.containerfile.trim() ? { containerfile: form.containerfile.trim() } : {}),
          },
    env,
    domains,
    health,
    ...(numbers.port !== undefined ? { port: numbers.port } : {}),
    ...(numbers.stopGraceMs !== undefined ? { stopGraceMs: numbers.stopGraceMs } : {}),
    ...(numbers.drainMs !== undefined ? { drainMs: numbers.drainMs } : {}),
    ...(numbers.cpus !== undefined ? { cpus: numbers.cpus } : {}),
    ...(numbers.memoryMb !== undefined ? { memoryMb: numbers.memoryMb } : {}),
  };

  const parsed = AppSpec.safeParse(spec);
  if (!parsed.success) {
    for (const issue of parsed.error.issues) {
      const field = fieldOfPath(issue.path, form.sourceKind) ?? fieldOfLazarusIssue(issue.path, issue.message);
      if (!field) continue;
      let message = issue.message;
      // Name the entry a list or map error is about: "'foo_bar': not a valid domain name".
      if (field === 'domains' && typeof issue.path[1] === 'number') message = `'${domains[issue.path[1]]}': ${message}`;
      if (field === 'env' && issue.path[1] !== undefined) message = `'${String(issue.path[1])}': ${message}`;
      if (field === 'node' && !form.node) message = 'choose the node the app runs on';
      if (field === 'gitUrl' && !form.gitUrl.trim()) message = 'enter the URL of the git repository';
      if (field === 'gitRef' && !form.gitRef.trim()) message = 'enter the git ref to build, e.g. main';
      add(field, message);
    }
  }
  if (Object.keys(errors).length) return { ok: false, errors };
  return { ok: true, spec };
}

// A server refusal -> the field it is about, so that it shows there too (nothing was created).
export function serverErrorField(err: unknown): keyof AppForm | null {
  if (!(err instanceof ApiError)) return null;
  if (err.code === 'conflict' && /^an app named/i.test(err.message)) return 'name';
  if (err.code === 'conflict' && /domain/i.test(err.message)) return 'domains';
  if (err.code === 'not_found' && /node/i.test(err.message)) return 'node';
  if (err.code === 'invalid_input' && /env/i.test(err.message)) return 'env';
  return null;
}

// Milliseconds as an operator reads them, exactly: 0 s, 1 s, 1500 ms, 30 s, 1 min, 90 s.
export function formatMs(ms: number): string {
  if (ms >= 60_000 && ms % 60_000 === 0) return `${ms / 60_000} min`;
  if (ms % 1000 === 0) return `${ms / 1000} s`;
  return `${ms} ms`;
}

// An app's source in one line: the image reference, or "URL @ ref".
export function sourceLabel(source: AppSpec['source']): string {
  return source.kind === 'image' ? source.image : `${source.url} @ ${source.ref}`;
}

// An app's saved configuration as the form's text fields (the configuration editor's start).
export function formFromSpec(spec: AppSpec): AppForm {
  const s = (n: number | undefined) => (n === undefined ? '' : String(n));
  const h = spec.health;
  return {
    name: spec.name,
    node: spec.node,
    sourceKind: spec.source.kind,
    image: spec.source.kind === 'image' ? spec.source.image : '',
    gitUrl: spec.source.kind === 'git' ? spec.source.url : '',
    gitRef: spec.source.kind === 'git' ? spec.source.ref : 'main',
    containerfile: spec.source.kind === 'git' ? spec.source.containerfile : 'Containerfile',
    port: s(spec.port),
    domains: spec.domains.join(', '),
    env: Object.entries(spec.env)
      .map(([k, v]) => `${k}=${v}`)
      .join('\n'),
    healthKind: h.kind,
    healthPath: h.path,
    intervalMs: s(h.intervalMs),
    timeoutMs: s(h.timeoutMs),
    healthyThreshold: s(h.healthyThreshold),
    unhealthyThreshold: s(h.unhealthyThreshold),
    startPeriodMs: s(h.startPeriodMs),
    deadlineMs: s(h.deadlineMs),
    stopGraceMs: s(spec.stopGraceMs),
    drainMs: s(spec.drainMs),
    cpus: s(spec.cpus),
    memoryMb: s(spec.memoryMb),
    ...lazarusFormFromSpec(spec),
  };
}

// The edited form -> the whole spec for apps.update. Name and node are the app's own (an update
// cannot change them); the command and volumes, which the form does not edit, are kept.
export function buildUpdate(form: AppForm, current: AppSpec): BuildResult {
  const r = buildSpec({ ...form, name: current.name, node: current.node });
  if (!r.ok) return r;
  return { ok: true, spec: { ...r.spec, command: current.command, volumes: current.volumes } };
}

// The fields whose value differs from the saved configuration (to say what a save changes).
export function changedFields(form: AppForm, current: AppSpec): (keyof AppForm)[] {
  const saved = formFromSpec(current);
  const norm = (k: keyof AppForm, v: string) => (k === 'domains' ? parseDomains(v).join(',') : k === 'env' ? JSON.stringify(parseEnvText(v).env) : v.trim());
  return (Object.keys(saved) as (keyof AppForm)[]).filter((k) => norm(k, String(form[k])) !== norm(k, String(saved[k])));
}
