// apps.logs and apps.ps: read-only views of an app's containers through its node's agent.
// A following log call ends when the caller cancels (ctx.signal) and then cancels the agent's
// stream, so nothing keeps reading on the node. While the caller's connection is backed up
// (ctx.backlog), the agent's stream is paused, which pushes back to the node through gRPC flow
// control: memory stays bounded end to end.
import { status, type ServiceError } from '@grpc/grpc-js';
import { eq } from 'drizzle-orm';
import type { ContainerInfo, LogChunk as WireLogChunk } from '../../proto/gen/podploy/agent/v1/agent';
import { ApiError, type ContainerSummary, type LogChunk, type LogLine } from '../api/contract';
import type { CallContext, Handlers } from '../api/router';
import type { Fleet } from '../agents/fleet';
import type { Db } from '../db/database';
import { apps, releases } from '../db/schema';
import type { NodeRow, NodeStore } from '../nodes/node-store';

// Pause the node's stream while this much is queued for the caller; resume below the low mark.
export const LOGS_BACKLOG_HIGH_BYTES = 4 * 1024 * 1024;
export const LOGS_BACKLOG_LOW_BYTES = 1024 * 1024;
export const LOGS_BACKLOG_POLL_MS = 50;
// tail in the agent's LogsRequest: the whole history.
const TAIL_ALL = -1;
const SINCE_UNITS_MS = { s: 1_000, m: 60_000, h: 3_600_000, d: 86_400_000 } as const;
// An ISO time a little ahead of this clock is the other clock's drift, not a mistake.
const SINCE_FUTURE_SLACK_MS = 60_000;

export interface LogsServiceDeps {
  db: Db;
  nodes: NodeStore;
  fleet: Fleet;
}

// "--since": a duration back from now (30s, 10m, 2h, 1d) or an ISO 8601 time, as ms since the epoch.
export function parseSince(value: string, now = Date.now()): number {
  const v = value.trim();
  const hint = 'give a duration back from now (30s, 10m, 2h, 1d) or an ISO 8601 time (2026-11-27T09:00:00Z)';
  const d = /^(\d+)([smhd])$/.exec(v);
  if (d) return now - Number(d[1]) * SINCE_UNITS_MS[d[2] as keyof typeof SINCE_UNITS_MS];
  if (/^\d{4}-\d\d-\d\d([T ]\d\d:\d\d(:\d\d(\.\d+)?)?)?(Z|[+-]\d\d:?\d\d)?$/.test(v)) {
    const at = Date.parse(v);
    if (Number.isNaN(at)) throw new ApiError('invalid_input', `since '${value}' is not a valid time`, hint);
    if (at > now + SINCE_FUTURE_SLACK_MS) throw new ApiError('invalid_input', `since '${value}' is in the future`, hint);
    return at;
  }
  throw new ApiError('invalid_input', `since '${value}' is neither a duration nor an ISO 8601 time`, hint);
}

export function logsHandlers(d: LogsServiceDeps): Pick<Handlers, 'apps.logs' | 'apps.ps'> {
  function appByName(name: string) {
    const app = d.db.select().from(apps).where(eq(apps.name, name)).get();
    if (!app) throw new ApiError('not_found', `no app named '${name}'`, 'list apps with `podploy app list`');
    return app;
  }

  function onlineNode(nodeId: string, what: string): NodeRow {
    const node = d.nodes.byId(nodeId)!;
    if (!d.fleet.isOnline(node.id)) throw new ApiError('unreachable', `node '${node.name}' is offline; ${what}`, 'bring the node back (podploy node info NAME) and try again');
    return node;
  }

  // Release ids (as the agent knows them) to release numbers, reloaded when an id is new (a
  // deploy made it while a follow runs).
  function releaseNumbers(appId?: string) {
    let map = new Map<string, number>();
    const load = () => {
      const rows = appId ? d.db.select({ id: releases.id, number: releases.number }).from(releases).where(eq(releases.appId, appId)).all() : d.db.select({ id: releases.id, number: releases.number }).from(releases).all();
      map = new Map(rows.map((r) => [r.id, r.number]));
    };
    load();
    return (id: string): number | undefined => {
      if (!id) return undefined;
      if (!map.has(id)) load();
      return map.get(id);
    };
  }

  return {
    'apps.logs': async (input, ctx, progress) => {
      const app = appByName(input.name);
      const sinceMs = input.since === undefined ? 0 : parseSince(input.since);
      let agentRelease = '';
      if (input.release !== undefined) {
        const row = d.db.select().from(releases).where(eq(releases.appId, app.id)).all().find((r) => r.number === input.release);
        if (!row) throw new ApiError('not_found', `app '${app.name}' has no release v${input.release}`, `see \`podploy releases ${app.name}\``);
        agentRelease = row.id;
      }
      const node = onlineNode(app.nodeId, `the logs of ${app.name} cannot be read now`);
      if (ctx.signal?.aborted) return { lines: 0 };
      const conn = await d.fleet.link(node.id).connection();
      const numberOf = releaseNumbers(app.id);
      const stream = conn.logs({ app: app.name, follow: input.follow, tail: input.tail ?? TAIL_ALL, sinceMs, release: agentRelease });
      return new Promise((resolve, reject) => {
        let count = 0;
        let waiting = false;
        const cancelled = () => !!ctx.signal?.aborted;
        const onAbort = () => stream.cancel();
        ctx.signal?.addEventListener('abort', onAbort, { once: true });
        const finish = (err?: ApiError) => {
          ctx.signal?.removeEventListener('abort', onAbort);
          if (err) reject(err);
          else resolve({ lines: count });
        };
        stream.on('data', (chunk: WireLogChunk) => {
          const out: LogChunk = { lines: chunk.lines.map((l) => toLogLine(l, numberOf)) };
          if (chunk.notice) out.notice = chunk.notice;
          count += out.lines.length;
          progress(out);
          if (!waiting && ctx.backlog && ctx.backlog() > LOGS_BACKLOG_HIGH_BYTES) {
            waiting = true;
            stream.pause();
            void waitForBacklog(ctx).then(() => {
              waiting = false;
              stream.resume();
            });
          }
        });
        stream.on('end', () => finish());
        stream.on('error', (err: ServiceError) => {
          if (cancelled() || err.code === status.CANCELLED) return finish();
          if (err.code === status.NOT_FOUND) return finish(new ApiError('not_found', err.details, `see \`podploy releases ${app.name}\` and \`podploy ps ${app.name}\``));
          if (err.code === status.UNAVAILABLE) return finish(new ApiError('unreachable', `the connection to node '${node.name}' was lost while reading the logs of ${app.name}: ${err.details}`, 'try again once the node is online'));
          finish(new ApiError('agent_failed', `node '${node.name}': ${err.details || err.message}`, 'look at the agent log on the node'));
        });
      });
    },

    'apps.ps': async ({ name }) => {
      const numberOf = releaseNumbers();
      if (name) {
        const app = appByName(name);
        const node = onlineNode(app.nodeId, `the containers of ${app.name} cannot be listed now`);
        const conn = await d.fleet.link(node.id).connection();
        const { containers } = await conn.listContainers(app.name);
        return containers.map((c) => toSummary(c, node.name, numberOf));
      }
      const out: ContainerSummary[] = [];
      for (const node of d.nodes.all()) {
        if (!d.fleet.isOnline(node.id)) continue;
        const conn = await d.fleet.link(node.id).connection();
        const { containers } = await conn.listContainers('');
        out.push(...containers.map((c) => toSummary(c, node.name, numberOf)));
      }
      return out;
    },
  };
}

function toLogLine(l: { atMs: number; stream: string; line: string; release: string }, numberOf: (id: string) => number | undefined): LogLine {
  const release = numberOf(l.release);
  return { at: l.atMs, stream: l.stream === 'stderr' ? 'stderr' : 'stdout', line: l.line, ...(release !== undefined ? { release } : {}) };
}

function toSummary(c: ContainerInfo, node: string, numberOf: (id: string) => number | undefined): ContainerSummary {
  const release = numberOf(c.release);
  return {
    app: c.app,
    node,
    ...(release !== undefined ? { release } : {}),
    slot: c.slot,
    name: c.name,
    image: c.image,
    ...(c.imageDigest ? { imageDigest: c.imageDigest } : {}),
    state: c.state,
    ...(c.startedAtMs ? { startedAt: c.startedAtMs } : {}),
    ...(c.state !== 'running' ? { exitCode: c.exitCode } : {}),
    serving: c.serving,
  };
}

function waitForBacklog(ctx: CallContext): Promise<void> {
  return new Promise((resolve) => {
    const check = () => {
      if (ctx.signal?.aborted || !ctx.backlog || ctx.backlog() <= LOGS_BACKLOG_LOW_BYTES) resolve();
      else setTimeout(check, LOGS_BACKLOG_POLL_MS);
    };
    check();
  });
}
