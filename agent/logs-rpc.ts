// The read-only Logs and ListContainers RPCs.
//
// Logs streams one app container's lines from Podman's log API in chunks (one chunk per read
// from Podman), with Podman's timestamps. Which container: the given release's, else the live
// release's (the Deployer's app state). Memory stays bounded: when the caller's buffer is full
// (grpc-js write() returns false) the agent stops reading from Podman until it drains.
//
// Following ends only when the caller cancels. When the followed container stops:
//   - a given release: a final notice, and the stream ends;
//   - the live release replaced by a deploy: a notice, then the new live container's whole
//     log (it started during the deploy) and on, so `logs -f` survives deploys; lines the new
//     container wrote while the old one drained come after the old one's last lines;
//   - the live container stopped and not replaced: a notice, then the agent waits (polling the
//     app state) until it runs again (its lines since that start) or a new release is live.
import type { LiveRelease } from './deploy/app-state';
import type { Logger } from './logger';
import { isPodmanNotFound, withContext, type PodmanClient } from './podman/client';
import { findContainer, inspectContainer, listContainers, PODPLOY_LABELS, type ContainerSummary } from './podman/containers';
import { findImage } from './podman/images';
import { LOG_REQUEST_TIMEOUT_MS, LogDecoder, type LogLine as PodmanLogLine } from './podman/logs';
import type { ContainerInfo, ListContainersResponse, LogChunk, LogLine, LogsRequest } from '../proto/gen/podploy/agent/v1/agent';

// How often a follow whose container stopped looks for it to run again or for a new release.
export const LOGS_FOLLOW_POLL_MS = 500;
// A chunk is sent at this many lines, or this long after its first line (Podman writes one
// frame per line; a gRPC message each would cost far more than the line).
export const LOGS_CHUNK_MAX_LINES = 2_000;
export const LOGS_CHUNK_MAX_DELAY_MS = 20;
// tail in LogsRequest: every line of the history.
export const TAIL_ALL = -1;

// What the agent knows about its apps, for reading (the Deployer's state and the slot gates).
export interface AppView {
  live(app: string): LiveRelease | undefined;
  // True while the slot's gate lets Caddy send it traffic.
  gateOpen(app: string, slot: string): boolean;
}

export interface LogsDeps {
  nodeId: string;
  podman: PodmanClient;
  apps: AppView;
  log: Logger;
}

// Where the chunks go: write() false means "full: wait for drained() before writing more".
export interface ChunkSink {
  write(chunk: LogChunk): boolean;
  drained(): Promise<void>;
}

// A request the agent cannot serve; `code` is how the RPC reports it.
export class LogsRefused extends Error {
  constructor(
    readonly code: 'not_found' | 'invalid',
    message: string,
  ) {
    super(message);
    this.name = 'LogsRefused';
  }
}

interface Target {
  container: string;
  release: string;
}

interface ReadOptions {
  tail?: number;
  since?: Date;
}

// Streams the request's lines into sink until the history is read (not following) or the
// signal aborts. Throws LogsRefused for an unknown app/release, PodmanError when Podman fails.
export async function streamLogs(req: LogsRequest, deps: LogsDeps, sink: ChunkSink, signal: AbortSignal): Promise<void> {
  let target = await resolveTarget(req, deps);
  let read: ReadOptions = {
    tail: req.tail >= 0 ? req.tail : undefined,
    since: req.sinceMs > 0 ? new Date(req.sinceMs) : undefined,
  };
  for (;;) {
    await pump(target, read, req.follow, deps, sink, signal);
    if (!req.follow || signal.aborted) return;
    const next = await afterStop(req, target, deps, sink, signal);
    if (!next) return;
    ({ target, read } = next);
  }
}

// The container a request means: the given release's (running first, then the newest), else
// the live release's.
export async function resolveTarget(req: Pick<LogsRequest, 'app' | 'release'>, deps: Pick<LogsDeps, 'nodeId' | 'podman' | 'apps'>): Promise<Target> {
  if (!req.app) throw new LogsRefused('invalid', 'Logs needs an app name');
  if (req.release) {
    const found = await listContainers(deps.podman, { labels: { [PODPLOY_LABELS.app]: req.app, [PODPLOY_LABELS.release]: req.release } });
    const pick = found.find((c) => c.state === 'running') ?? newest(found);
    if (!pick) {
      throw new LogsRefused(
        'not_found',
        `node ${deps.nodeId}: app ${req.app} has no container for release ${req.release} (a deploy removes the release it replaces, and a failed release's container)`,
      );
    }
    return { container: pick.name, release: req.release };
  }
  const live = deps.apps.live(req.app);
  if (!live) throw new LogsRefused('not_found', `node ${deps.nodeId}: app ${req.app} has no live release here; deploy it first`);
  return { container: live.container, release: live.release };
}

// Reads one container's log (following or not) into the sink, pausing while the sink is full.
async function pump(target: Target, read: ReadOptions, follow: boolean, deps: LogsDeps, sink: ChunkSink, signal: AbortSignal): Promise<void> {
  if (signal.aborted) return;
  let batch: LogLine[] = [];
  const toWire = (l: PodmanLogLine): LogLine => ({ atMs: (l.at ?? new Date()).getTime(), stream: l.stream, line: l.line, container: target.container, release: target.release });
  const decoder = new LogDecoder((l) => batch.push(toWire(l)), { timestamps: true });
  const flush = (): boolean => {
    if (!batch.length) return true;
    const lines = batch;
    batch = [];
    return sink.write({ lines, notice: '' });
  };
  let res;
  try {
    res = await withContext(
      `container ${target.container}: logs`,
      deps.podman.open(`/containers/${encodeURIComponent(target.container)}/logs`, {
        query: {
          follow,
          stdout: true,
          stderr: true,
          timestamps: true,
          tail: read.tail,
          since: read.since?.toISOString(),
        },
        // Following may be quiet for hours; a one-shot read is bounded.
        timeoutMs: follow ? 0 : LOG_REQUEST_TIMEOUT_MS,
        signal,
      }),
    );
  } catch (err) {
    if (signal.aborted) return;
    // Removed between the lookup and the read (e.g. by a deploy's last step).
    if (isPodmanNotFound(err) && follow) return;
    throw err;
  }
  let timer: NodeJS.Timeout | undefined;
  // Set when a flush found the sink full: reading waits for it before the next chunk.
  let full: Promise<void> | undefined;
  const flushNow = () => {
    clearTimeout(timer);
    timer = undefined;
    if (!flush()) full = sink.drained();
  };
  try {
    for await (const chunk of res) {
      decoder.push(chunk as Buffer);
      if (batch.length >= LOGS_CHUNK_MAX_LINES) flushNow();
      else if (batch.length && !timer) timer = setTimeout(flushNow, LOGS_CHUNK_MAX_DELAY_MS);
      if (full) {
        await full;
        full = undefined;
      }
      if (signal.aborted) break;
    }
  } catch (err) {
    if (signal.aborted) return;
    throw err;
  } finally {
    clearTimeout(timer);
    res.destroy();
  }
  if (signal.aborted) return;
  decoder.end();
  flush();
}

// The followed container's log ended: say why, and find what to follow next (undefined: end).
async function afterStop(req: LogsRequest, target: Target, deps: LogsDeps, sink: ChunkSink, signal: AbortSignal): Promise<{ target: Target; read: ReadOptions } | undefined> {
  const notice = (text: string) => sink.write({ lines: [], notice: text });
  let waiting = false;
  while (!signal.aborted) {
    if (!req.release) {
      const live = deps.apps.live(req.app);
      if (live && live.container !== target.container) {
        notice(`release ${live.release} is live now (container ${live.container}); following it from its start`);
        return { target: { container: live.container, release: live.release }, read: {} };
      }
    }
    const info = await findContainer(deps.podman, target.container);
    if (!info) {
      notice(`container ${target.container} (release ${target.release}) was removed; the stream ends`);
      return undefined;
    }
    if (info.running) {
      if (waiting) notice(`container ${target.container} runs again; following it`);
      return { target, read: { since: info.startedAt } };
    }
    const how = `stopped (${info.state}, exit code ${info.exitCode}${info.oomKilled ? ', out of memory' : ''})`;
    if (req.release) {
      notice(`container ${target.container} (release ${target.release}) ${how}; the stream ends`);
      return undefined;
    }
    if (!waiting) notice(`container ${target.container} (release ${target.release}) ${how}; waiting for it to run again or for a new release`);
    waiting = true;
    await sleep(LOGS_FOLLOW_POLL_MS, signal);
  }
  return undefined;
}

// The PodPloy containers on this node (of one app, or all), with their release, slot, state,
// start time, image digest and whether their slot is in service.
export async function listAppContainers(app: string, deps: Pick<LogsDeps, 'podman' | 'apps'>): Promise<ListContainersResponse> {
  const found = await listContainers(deps.podman, { labels: { [PODPLOY_LABELS.app]: app || true } });
  const digests = new Map<string, string>();
  const out: ContainerInfo[] = [];
  for (const c of found) {
    const name = c.name.replace(/^\//, '');
    let started: Date | undefined;
    let running = c.state === 'running';
    try {
      const info = await inspectContainer(deps.podman, name);
      started = info.startedAt;
      running = info.running;
    } catch (err) {
      if (isPodmanNotFound(err)) continue; // removed since the list
      throw err;
    }
    const appName = c.labels[PODPLOY_LABELS.app] ?? '';
    const slot = c.labels[PODPLOY_LABELS.slot] ?? '';
    const live = deps.apps.live(appName);
    let digest = live?.container === name ? live.digest : digests.get(c.imageId);
    if (digest === undefined) {
      digest = (await findImage(deps.podman, c.imageId).catch(() => undefined))?.digest ?? '';
      digests.set(c.imageId, digest);
    }
    out.push({
      app: appName,
      release: c.labels[PODPLOY_LABELS.release] ?? '',
      slot,
      name,
      id: c.id,
      image: c.image,
      imageDigest: digest,
      state: c.state,
      startedAtMs: started?.getTime() ?? 0,
      exitCode: c.exitCode,
      serving: running && deps.apps.gateOpen(appName, slot),
    });
  }
  out.sort((a, b) => a.app.localeCompare(b.app) || Number(b.serving) - Number(a.serving) || b.startedAtMs - a.startedAtMs);
  return { containers: out };
}

function newest(list: ContainerSummary[]): ContainerSummary | undefined {
  return [...list].sort((a, b) => (b.createdAt?.getTime() ?? 0) - (a.createdAt?.getTime() ?? 0))[0];
}

function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const done = () => {
      clearTimeout(timer);
      signal.removeEventListener('abort', done);
      resolve();
    };
    const timer = setTimeout(done, ms);
    signal.addEventListener('abort', done, { once: true });
  });
}
