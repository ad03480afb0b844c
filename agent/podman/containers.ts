// Container lifecycle through Podman's libpod REST API: create, start, inspect, stop with grace,
// remove, list by label, wait for a condition. Every error names the container, the endpoint and
// what Podman answered.
import { isPodmanNotFound, podmanFilters, withContext, type PodmanClient } from './client';

// Create, start, inspect and remove answer quickly on a healthy node; a loaded one may take seconds.
export const CONTAINER_REQUEST_TIMEOUT_MS = 30_000;
// Podman's own default stop grace (SIGTERM, then SIGKILL after this many seconds).
export const DEFAULT_STOP_GRACE_SECONDS = 10;
// How long beyond the grace period a stop request may take (killing, cleanup, a busy node).
export const STOP_REQUEST_MARGIN_MS = 15_000;
export const DEFAULT_WAIT_INTERVAL_MS = 100;
const NANOS_PER_MS = 1_000_000;
const CPU_PERIOD_US = 100_000;

// The labels every PodPloy container carries.
export const PODPLOY_LABELS = {
  app: 'podploy.app',
  release: 'podploy.release',
  slot: 'podploy.slot',
} as const;

export function podployLabels(ids: { app: string; release: string; slot: string | number }): Record<string, string> {
  return { [PODPLOY_LABELS.app]: ids.app, [PODPLOY_LABELS.release]: ids.release, [PODPLOY_LABELS.slot]: String(ids.slot) };
}

export interface PublishedPort {
  hostIp: string;
  hostPort: number;
  containerPort: number;
  protocol?: 'tcp' | 'udp';
}

// Podman's own health check (run by its systemd timer where there is one, or on demand with
// runHealthcheck). The deploy's HTTP check lives in the agent; this one shows in inspect.
export interface ContainerHealthCheck {
  // ['CMD-SHELL', 'wget -qO- http://127.0.0.1:8080/health'] or ['CMD', 'prog', 'arg'].
  test: string[];
  intervalMs: number;
  timeoutMs: number;
  retries: number;
  startPeriodMs?: number;
}

export interface ContainerSpec {
  name: string;
  image: string;
  // Replaces the image's CMD; the image's ENTRYPOINT stays.
  command?: string[];
  // Replaces the image's ENTRYPOINT (then `command` should be the whole argv after it).
  entrypoint?: string[];
  // Host folders bind-mounted into the container.
  binds?: BindMount[];
  // Podman named volumes (created by Podman when missing), kept across releases.
  volumes?: NamedVolume[];
  env?: Record<string, string>;
  labels?: Record<string, string>;
  ports?: PublishedPort[];
  memoryBytes?: number;
  // CPUs as a fraction of cores (0.5 = half a core), enforced as a CFS quota.
  cpus?: number;
  stopGraceSeconds?: number;
  // PodPloy's agent restarts containers itself (Lazarus); Podman's policy stays "no".
  restartPolicy?: 'no' | 'on-failure' | 'always' | 'unless-stopped';
  healthCheck?: ContainerHealthCheck;
}

export interface NamedVolume {
  name: string;
  destination: string;
}

export interface BindMount {
  source: string;
  destination: string;
  readOnly?: boolean;
}

export type ContainerHealth = 'starting' | 'healthy' | 'unhealthy';

export interface ContainerInfo {
  id: string;
  name: string;
  image: string;
  imageId: string;
  // created | running | paused | exited | stopped | stopping | …, as Podman says it.
  state: string;
  running: boolean;
  exitCode: number;
  oomKilled: boolean;
  error: string;
  startedAt?: Date;
  finishedAt?: Date;
  health?: ContainerHealth;
  failingStreak: number;
  labels: Record<string, string>;
  ports: PublishedPort[];
  memoryBytes: number;
  cpus: number;
  stopGraceSeconds: number;
  restartPolicy: string;
}

export interface ContainerSummary {
  id: string;
  name: string;
  image: string;
  imageId: string;
  state: string;
  exitCode: number;
  labels: Record<string, string>;
  ports: PublishedPort[];
  createdAt?: Date;
}

// The libpod SpecGenerator body for POST /containers/create: pure, so tests can assert it.
export function containerCreateBody(spec: ContainerSpec): Record<string, unknown> {
  const body: Record<string, unknown> = {
    name: spec.name,
    image: spec.image,
    env: spec.env ?? {},
    labels: spec.labels ?? {},
    restart_policy: spec.restartPolicy ?? 'no',
    stop_timeout: spec.stopGraceSeconds ?? DEFAULT_STOP_GRACE_SECONDS,
  };
  if (spec.command) body.command = spec.command;
  if (spec.entrypoint) body.entrypoint = spec.entrypoint;
  if (spec.binds?.length) {
    body.mounts = spec.binds.map((b) => ({ type: 'bind', source: b.source, destination: b.destination, options: ['rbind', b.readOnly ? 'ro' : 'rw'] }));
  }
  if (spec.volumes?.length) body.volumes = spec.volumes.map((v) => ({ Name: v.name, Dest: v.destination, Options: [] }));
  if (spec.ports?.length) {
    body.portmappings = spec.ports.map((p) => ({ host_ip: p.hostIp, host_port: p.hostPort, container_port: p.containerPort, protocol: p.protocol ?? 'tcp' }));
  }
  const limits: Record<string, unknown> = {};
  if (spec.memoryBytes !== undefined) limits.memory = { limit: spec.memoryBytes };
  if (spec.cpus !== undefined) limits.cpu = { quota: Math.round(spec.cpus * CPU_PERIOD_US), period: CPU_PERIOD_US };
  if (Object.keys(limits).length) body.resource_limits = limits;
  if (spec.healthCheck) {
    const h = spec.healthCheck;
    body.healthconfig = {
      Test: h.test,
      Interval: h.intervalMs * NANOS_PER_MS,
      Timeout: h.timeoutMs * NANOS_PER_MS,
      Retries: h.retries,
      StartPeriod: (h.startPeriodMs ?? 0) * NANOS_PER_MS,
    };
  }
  return body;
}

// Checks what Podman would otherwise reject with a vaguer message (or, for ports, accept oddly).
export function validateContainerSpec(spec: ContainerSpec): void {
  const problems: string[] = [];
  if (!/^[a-zA-Z0-9][a-zA-Z0-9_.-]*$/.test(spec.name)) problems.push(`name "${spec.name}" must be letters, digits, _ . - (not first)`);
  if (!spec.image) problems.push('image is empty');
  for (const p of spec.ports ?? []) {
    for (const [what, port] of [['host port', p.hostPort], ['container port', p.containerPort]] as const) {
      if (!Number.isInteger(port) || port < 1 || port > 65_535) problems.push(`${what} ${port} is not a port (1-65535)`);
    }
  }
  for (const key of Object.keys(spec.env ?? {})) if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(key)) problems.push(`env key "${key}" is not a variable name`);
  if (spec.memoryBytes !== undefined && !(spec.memoryBytes > 0)) problems.push(`memory limit ${spec.memoryBytes} must be positive`);
  if (spec.cpus !== undefined && !(spec.cpus > 0)) problems.push(`cpu limit ${spec.cpus} must be positive`);
  if (problems.length) throw new Error(`container ${spec.name}: invalid spec: ${problems.join('; ')}`);
}

// Creates the container (not started) and returns its id. The image must be on the node.
export async function createContainer(podman: PodmanClient, spec: ContainerSpec): Promise<string> {
  validateContainerSpec(spec);
  const res = await withContext(
    `container ${spec.name}: create from ${spec.image}`,
    podman.json<{ Id: string; Warnings?: string[] }>('/containers/create', {
      method: 'POST',
      body: containerCreateBody(spec),
      timeoutMs: CONTAINER_REQUEST_TIMEOUT_MS,
    }),
  );
  return res.Id;
}

// Starts it; a container that is already running is fine (Podman answers 304).
export async function startContainer(podman: PodmanClient, name: string): Promise<void> {
  await withContext(
    `container ${name}: start`,
    podman.call(`/containers/${encodeURIComponent(name)}/start`, { method: 'POST', acceptStatuses: [304], timeoutMs: CONTAINER_REQUEST_TIMEOUT_MS }),
  );
}

interface LibpodInspect {
  Id: string;
  Name: string;
  Image: string;
  ImageName?: string;
  State: {
    Status: string;
    Running: boolean;
    ExitCode: number;
    OOMKilled: boolean;
    Error?: string;
    StartedAt?: string;
    FinishedAt?: string;
    Health?: { Status?: string; FailingStreak?: number };
  };
  Config: { Labels?: Record<string, string> | null; StopTimeout?: number };
  HostConfig: {
    Memory?: number;
    NanoCpus?: number;
    CpuQuota?: number;
    CpuPeriod?: number;
    PortBindings?: Record<string, { HostIp: string; HostPort: string }[] | null> | null;
    RestartPolicy?: { Name?: string };
  };
}

export async function inspectContainer(podman: PodmanClient, name: string): Promise<ContainerInfo> {
  const raw = await withContext(
    `container ${name}: inspect`,
    podman.json<LibpodInspect>(`/containers/${encodeURIComponent(name)}/json`, { timeoutMs: CONTAINER_REQUEST_TIMEOUT_MS }),
  );
  return toContainerInfo(raw);
}

// inspectContainer, or undefined when there is no such container.
export async function findContainer(podman: PodmanClient, name: string): Promise<ContainerInfo | undefined> {
  try {
    return await inspectContainer(podman, name);
  } catch (err) {
    if (isPodmanNotFound(err)) return undefined;
    throw err;
  }
}

// SIGTERM (or the image's stop signal), then SIGKILL after graceSeconds. Resolves when the
// container has stopped; a container that was not running is fine.
export async function stopContainer(podman: PodmanClient, name: string, options: { graceSeconds?: number } = {}): Promise<{ wasRunning: boolean }> {
  const grace = options.graceSeconds ?? DEFAULT_STOP_GRACE_SECONDS;
  // libpod's parameter is `timeout`; `t` is the Docker-compatible API's and libpod ignores it
  // (the container's own stop_timeout applies then).
  const res = await withContext(
    `container ${name}: stop (grace ${grace} s)`,
    podman.call(`/containers/${encodeURIComponent(name)}/stop`, {
      method: 'POST',
      query: { timeout: grace },
      acceptStatuses: [304],
      timeoutMs: grace * 1_000 + STOP_REQUEST_MARGIN_MS,
    }),
  );
  return { wasRunning: res.status !== 304 };
}

export interface RemoveOptions {
  // Remove even when running (Podman stops it first, with its stop timeout).
  force?: boolean;
  // Also remove the container's anonymous volumes.
  volumes?: boolean;
  // No error when the container does not exist.
  ignoreMissing?: boolean;
}

export async function removeContainer(podman: PodmanClient, name: string, options: RemoveOptions = {}): Promise<{ removed: boolean }> {
  try {
    const reports = await withContext(
      `container ${name}: remove`,
      podman.json<{ Id: string; Err?: string }[]>(`/containers/${encodeURIComponent(name)}`, {
        method: 'DELETE',
        query: { force: options.force ?? true, v: options.volumes ?? false },
        timeoutMs: CONTAINER_REQUEST_TIMEOUT_MS + (options.force === false ? 0 : DEFAULT_STOP_GRACE_SECONDS * 1_000),
      }),
    );
    const failed = reports.find((r) => r.Err);
    if (failed) throw new Error(`container ${name}: remove: Podman reported: ${failed.Err}`);
    return { removed: true };
  } catch (err) {
    if (options.ignoreMissing && isPodmanNotFound(err)) return { removed: false };
    throw err;
  }
}

// Containers whose labels all match: keys are label names ('podploy.app'), a value of true
// matches any value. Stopped containers too unless all is false.
export async function listContainers(
  podman: PodmanClient,
  options: { labels?: Record<string, string | true>; all?: boolean } = {},
): Promise<ContainerSummary[]> {
  const label = Object.entries(options.labels ?? {}).map(([k, v]) => (v === true ? k : `${k}=${v}`));
  const filters = podmanFilters({ label });
  const list = await withContext(
    `list containers${label.length ? ` labelled ${label.join(', ')}` : ''}`,
    podman.json<LibpodListEntry[]>('/containers/json', { query: { all: options.all ?? true, filters }, timeoutMs: CONTAINER_REQUEST_TIMEOUT_MS }),
  );
  return list.map((c) => ({
    id: c.Id,
    name: c.Names?.[0] ?? '',
    image: c.Image ?? '',
    imageId: c.ImageID ?? '',
    state: c.State ?? '',
    exitCode: c.ExitCode ?? 0,
    labels: c.Labels ?? {},
    ports: (c.Ports ?? []).map((p) => ({ hostIp: p.host_ip, hostPort: p.host_port, containerPort: p.container_port, protocol: p.protocol === 'udp' ? 'udp' : 'tcp' })),
    createdAt: parseDate(c.Created),
  }));
}

interface LibpodListEntry {
  Id: string;
  Names?: string[];
  Image?: string;
  ImageID?: string;
  State?: string;
  ExitCode?: number;
  Labels?: Record<string, string> | null;
  Ports?: { host_ip: string; host_port: number; container_port: number; protocol: string }[] | null;
  Created?: string;
}

// Runs the container's Podman health check now and returns the result. Hosts without systemd
// have no timer running it, so this is how health moves there.
export async function runHealthcheck(podman: PodmanClient, name: string): Promise<ContainerHealth> {
  const res = await withContext(
    `container ${name}: healthcheck`,
    podman.json<{ Status: string }>(`/containers/${encodeURIComponent(name)}/healthcheck`, { timeoutMs: CONTAINER_REQUEST_TIMEOUT_MS }),
  );
  return res.Status as ContainerHealth;
}

export type ContainerCondition = 'running' | 'exited' | 'healthy' | 'removed';

export interface WaitOptions {
  timeoutMs: number;
  intervalMs?: number;
  signal?: AbortSignal;
}

// Polls inspect until the condition holds or the deadline passes. Waiting for 'running' or
// 'healthy' fails at once when the container exits instead, saying with which code.
export async function waitForContainer(
  podman: PodmanClient,
  name: string,
  condition: ContainerCondition | ((info: ContainerInfo) => boolean),
  options: WaitOptions,
): Promise<ContainerInfo | undefined> {
  const deadline = Date.now() + options.timeoutMs;
  const interval = options.intervalMs ?? DEFAULT_WAIT_INTERVAL_MS;
  const what = typeof condition === 'string' ? condition : 'the condition';
  let last: ContainerInfo | undefined;
  for (;;) {
    if (options.signal?.aborted) throw new Error(`container ${name}: waiting for ${what} was cancelled`);
    last = await findContainer(podman, name);
    if (condition === 'removed') {
      if (!last) return undefined;
    } else {
      if (!last) throw new Error(`container ${name}: does not exist (waiting for ${what})`);
      if (typeof condition === 'function' ? condition(last) : holds(condition, last)) return last;
      if ((condition === 'running' || condition === 'healthy') && hasExited(last)) {
        throw new Error(`container ${name}: exited with code ${last.exitCode}${last.oomKilled ? ' (out of memory)' : ''} while waiting for ${what}`);
      }
    }
    const left = deadline - Date.now();
    if (left <= 0) {
      throw new Error(`container ${name}: not ${what} after ${options.timeoutMs} ms (${last ? describe(last) : 'still exists'})`);
    }
    await new Promise((r) => setTimeout(r, Math.min(interval, left)));
  }
}

function holds(condition: Exclude<ContainerCondition, 'removed'>, info: ContainerInfo): boolean {
  if (condition === 'running') return info.running;
  if (condition === 'exited') return hasExited(info);
  return info.health === 'healthy';
}

function hasExited(info: ContainerInfo): boolean {
  return !info.running && (info.state === 'exited' || info.state === 'stopped' || info.state === 'dead');
}

function describe(info: ContainerInfo): string {
  const parts = [`state ${info.state}`];
  if (hasExited(info)) parts.push(`exit code ${info.exitCode}`);
  if (info.health) parts.push(`health ${info.health}`);
  return parts.join(', ');
}

function toContainerInfo(raw: LibpodInspect): ContainerInfo {
  const hc = raw.HostConfig ?? {};
  const ports: PublishedPort[] = [];
  for (const [key, bindings] of Object.entries(hc.PortBindings ?? {})) {
    const [port, proto] = key.split('/');
    for (const b of bindings ?? []) {
      ports.push({ hostIp: b.HostIp, hostPort: Number(b.HostPort), containerPort: Number(port), protocol: proto === 'udp' ? 'udp' : 'tcp' });
    }
  }
  const cpus = hc.NanoCpus ? hc.NanoCpus / 1e9 : hc.CpuQuota && hc.CpuPeriod ? hc.CpuQuota / hc.CpuPeriod : 0;
  const health = raw.State.Health?.Status;
  return {
    id: raw.Id,
    name: raw.Name,
    image: raw.ImageName ?? raw.Image,
    imageId: raw.Image,
    state: raw.State.Status,
    running: raw.State.Running,
    exitCode: raw.State.ExitCode,
    oomKilled: raw.State.OOMKilled,
    error: raw.State.Error ?? '',
    startedAt: parseDate(raw.State.StartedAt),
    finishedAt: parseDate(raw.State.FinishedAt),
    // Podman reports an empty Health object for containers without a health check.
    health: health === 'starting' || health === 'healthy' || health === 'unhealthy' ? health : undefined,
    failingStreak: raw.State.Health?.FailingStreak ?? 0,
    labels: raw.Config.Labels ?? {},
    ports,
    memoryBytes: hc.Memory ?? 0,
    cpus,
    stopGraceSeconds: raw.Config.StopTimeout ?? DEFAULT_STOP_GRACE_SECONDS,
    restartPolicy: hc.RestartPolicy?.Name || 'no',
  };
}

// Podman writes "0001-01-01T00:00:00Z" for never.
function parseDate(value: string | undefined): Date | undefined {
  if (!value || value.startsWith('0001-')) return undefined;
  const d = new Date(value);
  return Number.isNaN(d.getTime()) ? undefined : d;
}

// Freezes every process of a running container (cgroup freezer); it keeps its memory and sockets.
export async function pauseContainer(podman: PodmanClient, name: string): Promise<void> {
  await withContext(`container ${name}: pause`, podman.call(`/containers/${encodeURIComponent(name)}/pause`, { method: 'POST', timeoutMs: CONTAINER_REQUEST_TIMEOUT_MS }));
}

export async function unpauseContainer(podman: PodmanClient, name: string): Promise<void> {
  await withContext(`container ${name}: unpause`, podman.call(`/containers/${encodeURIComponent(name)}/unpause`, { method: 'POST', timeoutMs: CONTAINER_REQUEST_TIMEOUT_MS }));
}
