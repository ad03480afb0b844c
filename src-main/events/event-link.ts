// The control plane's link to one node's nats-server: connects (through the SSH connection the
// fleet holds, or any endpoint), authenticates with the control plane's nkey, and reads the
// events and metrics streams through the durable consumer. When SSH or NATS drops it connects
// again with back-off (as the fleet's agent links do) and resumes where the consumer stands.
import { jetstream, jetstreamManager } from '@nats-io/jetstream';
import { connect, nkeyAuthenticator, type NatsConnection } from '@nats-io/transport-node';
import { EVENTS_STREAM, METRICS_STREAM } from '../../proto/node-events';
import { RECONNECT_MAX_MS, RECONNECT_MIN_MS } from '../agents/fleet';
import type { EventStore } from './event-store';
import { StreamReader, type ReaderLog, type StoredBatch } from './stream-reader';

export const NATS_CONNECT_TIMEOUT_MS = 10_000;
// A link that stays up this long has its back-off reset.
const HEALTHY_AFTER_MS = 10_000;

export interface NatsEndpoint {
  host: string;
  port: number;
}

export interface EventLinkDeps {
  store: EventStore;
  // Where this node's nats-server is reachable from the control plane.
  endpoint: (nodeId: string) => Promise<NatsEndpoint>;
  // The control plane's nkey seed (the 'SU...' text as bytes).
  nkeySeed: () => Uint8Array;
  nodeName: (nodeId: string) => string;
  onStored: (nodeId: string, batch: StoredBatch) => void;
  log: ReaderLog;
  batchMax?: number;
}

export class EventLink {
  connected = false;
  error: string | null = null;
  private stopped = false;
  private nc: NatsConnection | null = null;
  private readers: StreamReader[] = [];
  private backoff = RECONNECT_MIN_MS;
  private retryTimer: NodeJS.Timeout | null = null;
  private retryNow: (() => void) | null = null;
  private running: Promise<void> = Promise.resolve();

  constructor(
    readonly nodeId: string,
    private d: EventLinkDeps,
  ) {}

  start(): void {
    this.running = this.cycle();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    if (this.retryTimer) clearTimeout(this.retryTimer);
    this.retryNow?.();
    await this.teardown();
    await this.running;
  }

  // The way to the node is back (its SSH link reconnected): retry now instead of after back-off.
  nudge(): void {
    this.backoff = RECONNECT_MIN_MS;
    this.retryNow?.();
  }

  // Drops the connection as a cut SSH connection would; the link connects again by itself.
  async interrupt(): Promise<void> {
    await this.nc?.close();
  }

  // Resolves when every gap found so far is accounted for (tests).
  async settled(): Promise<void> {
    await Promise.all(this.readers.map((r) => r.settled()));
  }

  private async cycle(): Promise<void> {
    if (this.stopped) return;
    const began = Date.now();
    try {
      await this.connectOnce();
    } catch (err) {
      if (!this.stopped) {
        const error = describe(err, this.d.nodeName(this.nodeId));
        // Said once per distinct problem, not at every retry.
        if (error !== this.error) this.d.log.warn('node event link failed', { node: this.d.nodeName(this.nodeId), error });
        this.error = error;
      }
    }
    await this.teardown();
    if (this.stopped) return;
    if (Date.now() - began > HEALTHY_AFTER_MS) this.backoff = RECONNECT_MIN_MS;
    const jitter = 0.8 + Math.random() * 0.4;
    await new Promise<void>((resolve) => {
      this.retryNow = resolve;
      this.retryTimer = setTimeout(resolve, Math.round(this.backoff * jitter));
    });
    this.retryNow = null;
    if (this.retryTimer) clearTimeout(this.retryTimer);
    this.backoff = Math.min(this.backoff * 2, RECONNECT_MAX_MS);
    return this.cycle();
  }

  private async connectOnce(): Promise<void> {
    const { host, port } = await this.d.endpoint(this.nodeId);
    if (this.stopped) return;
    const nc = await connect({
      servers: `${host}:${port}`,
      authenticator: nkeyAuthenticator(this.d.nkeySeed()),
      name: 'podploy-control-plane',
      reconnect: false,
      timeout: NATS_CONNECT_TIMEOUT_MS,
      ignoreClusterUpdates: true,
    });
    this.nc = nc;
    if (this.stopped) return;
    const jsm = await jetstreamManager(nc, { checkAPI: false });
    const js = jetstream(nc, { checkAPI: false });
    const node = () => this.d.nodeName(this.nodeId);
    this.readers = (
      [
        [EVENTS_STREAM, 'events'],
        [METRICS_STREAM, 'metrics'],
      ] as const
    ).map(
      ([stream, kind]) =>
        new StreamReader(
          { nodeId: this.nodeId, nodeName: node, stream, kind, store: this.d.store, log: this.d.log, batchMax: this.d.batchMax, onStored: (b) => this.d.onStored(this.nodeId, b) },
          js,
          jsm,
        ),
    );
    for (const r of this.readers) await r.prepare();
    this.connected = true;
    this.error = null;
    this.d.log.info('node event link up', { node: node() });
    const closed = nc.closed().then((err) => {
      if (err) throw err;
    });
    const runs = this.readers.map((r) => r.run());
    // Whichever ends first ends the link; the others fail on the closed connection, unheard.
    for (const p of [closed, ...runs]) p.catch(() => {});
    await Promise.race([closed, ...runs]);
  }

  private async teardown(): Promise<void> {
    this.connected = false;
    for (const r of this.readers) r.close();
    this.readers = [];
    const nc = this.nc;
    this.nc = null;
    if (nc && !nc.isClosed()) await nc.close().catch(() => {});
  }
}

function describe(err: unknown, node: string): string {
  const msg = err instanceof Error ? err.message : String(err);
  if (/authorization|authentication/i.test(msg)) {
    return `node '${node}' refused the control plane's NATS key (${msg}): onboard the node again (podploy node add) to install it`;
  }
  if (/ECONNREFUSED|CONNECTION_REFUSED|connection refused|error connecting|closed|ECONNRESET/i.test(msg)) {
    return `cannot reach nats-server on node '${node}' (${msg}): check that the agent runs and supervises it (podploy node info ${node})`;
  }
  return `node '${node}': ${msg}`;
}
