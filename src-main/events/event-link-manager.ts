// One EventLink per node, started and stopped with the fleet's nodes; pushes what they store to
// live subscribers (events.appended, metrics.appended, apps.runtime) and keeps metrics pruned.
import type { AppRuntime, EventLinkStatus, MetricsPoint, NodeEventSummary } from '../api/contract';
import type { Db } from '../db/database';
import { appRuntimes, RUNTIME_KINDS } from './app-runtime';
import { EventLink, type NatsEndpoint } from './event-link';
import type { EventRow, EventStore, MetricsRow } from './event-store';
import type { ReaderLog, StoredBatch } from './stream-reader';

// A catch-up of a large backlog pushes only the newest of each stored batch live; the rest is
// there for events.list.
export const LIVE_PUSH_MAX = 200;
export const METRICS_PRUNE_INTERVAL_MS = 3_600_000;

export interface EventLinkManagerDeps {
  db: Db;
  store: EventStore;
  endpoint: (nodeId: string) => Promise<NatsEndpoint>;
  // Frees what endpoint() set up for a node that left.
  release?: (nodeId: string) => Promise<void>;
  nkeySeed: () => Uint8Array;
  // The node's name for display (its id when the node is gone).
  nodeName: (nodeId: string) => string;
  nodeIds: () => string[];
  publish: {
    event: (e: NodeEventSummary) => void;
    metrics: (m: MetricsPoint) => void;
    runtime: (r: AppRuntime) => void;
  };
  log: ReaderLog;
  batchMax?: number;
}

export class EventLinkManager {
  private links = new Map<string, EventLink>();
  private runtimes = new Map<string, string>();
  private pruneTimer: NodeJS.Timeout | null = null;

  constructor(private d: EventLinkManagerDeps) {}

  start(): void {
    this.prune();
    this.pruneTimer = setInterval(() => this.prune(), METRICS_PRUNE_INTERVAL_MS);
    this.pruneTimer.unref();
  }

  attach(nodeId: string): void {
    if (this.links.has(nodeId)) return;
    const link = new EventLink(nodeId, {
      store: this.d.store,
      endpoint: this.d.endpoint,
      nkeySeed: this.d.nkeySeed,
      nodeName: this.d.nodeName,
      onStored: (id, batch) => this.stored(id, batch),
      log: this.d.log,
      batchMax: this.d.batchMax,
    });
    this.links.set(nodeId, link);
    link.start();
  }

  async detach(nodeId: string): Promise<void> {
    const link = this.links.get(nodeId);
    this.links.delete(nodeId);
    await link?.stop();
    await this.d.release?.(nodeId);
  }

  // The node's SSH link is back: its event link need not wait out its back-off.
  nudge(nodeId: string): void {
    this.links.get(nodeId)?.nudge();
  }

  link(nodeId: string): EventLink | undefined {
    return this.links.get(nodeId);
  }

  async stop(): Promise<void> {
    if (this.pruneTimer) clearInterval(this.pruneTimer);
    const links = [...this.links.values()];
    this.links.clear();
    await Promise.all(links.map(async (l) => {
      await l.stop();
      await this.d.release?.(l.nodeId);
    }));
  }

  status(): EventLinkStatus[] {
    return this.d.nodeIds().map((nodeId) => {
      const link = this.links.get(nodeId);
      const s = this.d.store.link(nodeId, 'events');
      return {
        node: this.d.nodeName(nodeId),
        connected: link?.connected ?? false,
        stored: s.stored,
        lastStreamSeq: s.lastStreamSeq,
        lastEventAtMs: s.lastEventAtMs,
        lost: s.lost,
        error: link ? link.error : 'no event link (the node is not attached)',
      };
    });
  }

  private stored(nodeId: string, batch: StoredBatch): void {
    const events = batch.events.length > LIVE_PUSH_MAX ? batch.events.slice(-LIVE_PUSH_MAX) : batch.events;
    for (const e of events) this.d.publish.event(toEventSummary(e, this.d.nodeName));
    const metrics = batch.metrics.length > LIVE_PUSH_MAX ? batch.metrics.slice(-LIVE_PUSH_MAX) : batch.metrics;
    for (const m of metrics) this.d.publish.metrics(toMetricsPoint(m, this.d.nodeName));
    const apps = new Set<string>();
    for (const e of batch.events) if (e.app && RUNTIME_KINDS.has(e.kind)) apps.add(e.app);
    for (const app of apps) {
      const [r] = appRuntimes(this.d.db, this.d.store, this.d.nodeName, app);
      if (!r) continue;
      // Pushed when something shown changes, not at every event's new lastEventAtMs.
      const json = JSON.stringify({ ...r, lastEventAtMs: null });
      if (this.runtimes.get(app) === json) continue;
      this.runtimes.set(app, json);
      this.d.publish.runtime(r);
    }
  }

  private prune(): void {
    const n = this.d.store.pruneMetrics();
    if (n) this.d.log.info('pruned old metrics samples', { samples: n });
  }
}

export function toEventSummary(e: EventRow, nodeName: (id: string) => string): NodeEventSummary {
  return {
    id: e.id,
    node: nodeName(e.nodeId),
    seq: e.seq,
    atMs: e.atMs,
    receivedAtMs: e.receivedAtMs,
    kind: e.kind,
    severity: e.severity,
    app: e.app,
    container: e.container,
    release: e.release,
    message: e.message,
    data: e.data,
  };
}

export function toMetricsPoint(m: MetricsRow, nodeName: (id: string) => string): MetricsPoint {
  return {
    node: nodeName(m.nodeId),
    app: m.app,
    container: m.container,
    atMs: m.atMs,
    cpuPercent: m.cpuPercent,
    memBytes: m.memBytes,
    memLimitBytes: m.memLimitBytes,
    restarts: m.restarts,
  };
}
