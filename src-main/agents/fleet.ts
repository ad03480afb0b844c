import type { ClientReadableStream } from '@grpc/grpc-js';
import type { HandshakeResponse, UsageReport } from '../../proto/gen/podploy/agent/v1/agent';
import { ApiError, type Usage } from '../api/contract';
import type { KnownHosts } from '../ssh/known-hosts';
import { SshSession } from '../ssh/ssh-session';
import type { NodeRow, NodeStore } from '../nodes/node-store';
import { AgentConnection, type AgentCredentials } from './agent-client';
import { factsFromWire, usageFromWire } from './wire-convert';

export const REPORT_INTERVAL_MS = 3_000;
export const offlineAfter = (intervalMs: number) => intervalMs * 3 + 1_000;
export const RECONNECT_MIN_MS = 500;
export const RECONNECT_MAX_MS = 30_000;
const OFFLINE_CHECK_MS = 500;

export interface FleetOptions {
  reportIntervalMs?: number;
}

// Told when a node joins or leaves the fleet, and when its SSH link (re)connects.
export interface FleetWatcher {
  attached(nodeId: string): void;
  detached(nodeId: string): void;
  linkUp?(nodeId: string): void;
}

export interface FleetDeps {
  nodes: NodeStore;
  knownHosts: KnownHosts;
  credentials: AgentCredentials;
  onChange: (nodeId: string) => void;
  log: (msg: string, extra?: Record<string, unknown>) => void;
}

// Keeps one live link per node: SSH, a forwarded port, mTLS gRPC and the usage stream. A node
// is online while its reports keep arriving and goes offline, by itself, when they stop.
export class Fleet {
  private links = new Map<string, AgentLink>();
  private online = new Set<string>();
  private lastSeen = new Map<string, number>();
  private timer: NodeJS.Timeout | null = null;
  private watchers = new Set<FleetWatcher>();
  readonly reportIntervalMs: number;

  constructor(
    private deps: FleetDeps,
    opts: FleetOptions = {},
  ) {
    this.reportIntervalMs = opts.reportIntervalMs ?? REPORT_INTERVAL_MS;
  }

  start(): void {
    for (const row of this.deps.nodes.all()) this.attach(row);
    this.timer = setInterval(() => this.checkOffline(), OFFLINE_CHECK_MS);
    this.timer.unref();
  }

  // justSeen: the caller has just heard from the agent (the onboarding handshake).
  attach(row: NodeRow, justSeen = false): void {
    if (justSeen) {
      this.lastSeen.set(row.id, Date.now());
      this.online.add(row.id);
    }
    if (this.links.has(row.id)) return;
    const link = new AgentLink(row, this.deps, this.reportIntervalMs, {
      onHandshake: (hs) => {
        this.deps.nodes.update(row.id, { facts: factsFromWire(hs.facts), labels: hs.labels ?? {}, agentVersion: hs.agentVersion });
        this.deps.onChange(row.id);
        for (const w of this.watchers) w.linkUp?.(row.id);
      },
      onReport: (usage) => this.report(row.id, usage),
    });
    this.links.set(row.id, link);
    link.start();
    for (const w of this.watchers) w.attached(row.id);
  }

  // Calls attached() for the nodes already in the fleet, then on every change.
  watch(w: FleetWatcher): () => void {
    this.watchers.add(w);
    for (const id of this.links.keys()) w.attached(id);
    return () => this.watchers.delete(w);
  }

  // The node's SSH connection right now, if its link holds one.
  session(nodeId: string): SshSession | null {
    return this.links.get(nodeId)?.session ?? null;
  }

  detach(nodeId: string): void {
    const had = this.links.has(nodeId);
    this.links.get(nodeId)?.stop();
    this.links.delete(nodeId);
    if (had) for (const w of this.watchers) w.detached(nodeId);
    this.online.delete(nodeId);
    this.lastSeen.delete(nodeId);
  }

  isOnline(nodeId: string): boolean {
    return this.online.has(nodeId);
  }

  link(nodeId: string): AgentLink {
    const link = this.links.get(nodeId);
    if (!link) throw new ApiError('not_found', `node ${nodeId} has no agent link`);
    return link;
  }

  async stop(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    for (const link of this.links.values()) link.stop();
    this.links.clear();
  }

  private report(nodeId: string, usage: Usage): void {
    const now = Date.now();
    this.lastSeen.set(nodeId, now);
    this.deps.nodes.update(nodeId, { usage, lastSeenAt: now });
    if (!this.online.has(nodeId)) {
      this.online.add(nodeId);
      this.deps.log('node online', { nodeId });
    }
    this.deps.onChange(nodeId);
  }

  private checkOffline(): void {
    const limit = offlineAfter(this.reportIntervalMs);
    const now = Date.now();
    for (const id of this.online) {
      if (now - (this.lastSeen.get(id) ?? 0) > limit) {
        this.online.delete(id);
        this.deps.log('node offline: reports stopped', { nodeId: id });
        this.deps.onChange(id);
      }
    }
  }
}

interface LinkEvents {
  onHandshake: (hs: HandshakeResponse) => void;
  onReport: (usage: Usage) => void;
}

export class AgentLink {
  private stopped = false;
  private ssh: SshSession | null = null;
  private conn: AgentConnection | null = null;
  private stream: ClientReadableStream<UsageReport> | null = null;
  private backoff = RECONNECT_MIN_MS;
  private retryTimer: NodeJS.Timeout | null = null;

  constructor(
    private row: NodeRow,
    private deps: FleetDeps,
    private intervalMs: number,
    private events: LinkEvents,
  ) {}

  start(): void {
    void this.cycle();
  }

  get session(): SshSession | null {
    return this.ssh;
  }

  // Waits until the link has a live connection to the agent (for commands).
  async connection(timeoutMs = 10_000): Promise<AgentConnection> {
    const until = Date.now() + timeoutMs;
    while (!this.conn && Date.now() < until && !this.stopped) await new Promise((r) => setTimeout(r, 100));
    if (!this.conn) throw new ApiError('unreachable', `node '${this.row.name}' is not connected`, 'check that the node is online (podploy node list)');
    return this.conn;
  }

  stop(): void {
    this.stopped = true;
    if (this.retryTimer) clearTimeout(this.retryTimer);
    this.teardown();
  }

  private async cycle(): Promise<void> {
    if (this.stopped) return;
    try {
      await this.connectOnce();
    } catch (err) {
      if (this.stopped) return;
      this.deps.log('agent link failed', { node: this.row.name, error: err instanceof Error ? err.message : String(err) });
    }
    this.teardown();
    if (this.stopped) return;
    const jitter = 0.8 + Math.random() * 0.4;
    this.retryTimer = setTimeout(() => void this.cycle(), Math.round(this.backoff * jitter));
    this.backoff = Math.min(this.backoff * 2, RECONNECT_MAX_MS);
  }

  private async connectOnce(): Promise<void> {
    const row = this.deps.nodes.byId(this.row.id);
    if (!row) return;
    this.row = row;
    const addr = { user: row.sshUser, host: row.host, port: row.port };
    this.ssh = await SshSession.connect(addr, this.deps.nodes.auth(row), { verifyHostKey: this.deps.knownHosts.verifier(row.host, row.port, {}) });
    if (this.stopped) return;
    const conn = await AgentConnection.open(this.ssh, row.id, row.agentPort, this.deps.credentials);
    this.conn = conn;
    const hs = await conn.handshake();
    this.events.onHandshake(hs);
    await new Promise<void>((resolve) => {
      const stream = conn.watchUsage(this.intervalMs);
      this.stream = stream;
      stream.on('data', (r: UsageReport) => {
        this.backoff = RECONNECT_MIN_MS;
        this.events.onReport(usageFromWire(r));
      });
      stream.on('error', () => resolve());
      stream.on('end', () => resolve());
      this.ssh!.onClose(() => resolve());
    });
  }

  private teardown(): void {
    this.stream?.cancel();
    this.stream = null;
    this.conn?.close();
    this.conn = null;
    this.ssh?.close();
    this.ssh = null;
  }
}
