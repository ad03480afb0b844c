// Reads one of a node's JetStream streams through the control plane's durable pull consumer:
// fetches in batches, stores a batch in one transaction, and only then acks it. A connection
// that drops before the acks leaves the messages with the consumer: they come again and change
// nothing. Messages the stream dropped (its limits) before they were read are counted as lost.
import {
  AckPolicy,
  DeliverPolicy,
  JetStreamApiCodes,
  JetStreamApiError,
  type JetStreamClient,
  type JetStreamManager,
  type JsMsg,
  type StreamInfo,
} from '@nats-io/jetstream';
import { nanos } from '@nats-io/transport-node';
import { CONTROL_PLANE_CONSUMER } from '../../proto/node-events';
import { BadMessage, decodeEvent, decodeSample } from './event-decode';
import type { EventRow, EventStore, MetricsRow, StreamKind, StreamPosition } from './event-store';

export const FETCH_BATCH_MAX = 2_000;
// A batch is stored when it is full or this long after its first message: latency stays low
// when events trickle in, and a backlog still goes in large transactions.
export const FLUSH_AFTER_MS = 15;
// How long one pull request waits on the node for messages (the library's minimum is 1 s).
export const FETCH_EXPIRES_MS = 5_000;
// Unacked messages the node hands out before it waits for acks; above FETCH_BATCH_MAX.
export const MAX_ACK_PENDING = 20_000;
// A message whose ack was lost (or that was in flight when a connection dropped) comes again
// after this long; storing a batch takes milliseconds, and a late ack only costs a redelivery.
export const ACK_WAIT_MS = 10_000;
// After a failed store, the node sends the batch again after this long.
const STORE_RETRY_MS = 2_000;

export interface StoredBatch {
  events: EventRow[];
  metrics: MetricsRow[];
}

export interface ReaderLog {
  info(msg: string, extra?: Record<string, unknown>): void;
  warn(msg: string, extra?: Record<string, unknown>): void;
}

export interface StreamReaderDeps {
  nodeId: string;
  nodeName: () => string;
  stream: string;
  kind: StreamKind;
  store: EventStore;
  onStored: (batch: StoredBatch) => void;
  log: ReaderLog;
  batchMax?: number;
}

interface Gap {
  from: number;
  to: number;
  // The first event after the gap: the synthetic warning goes just before it.
  next: { seq: number; atMs: number } | null;
}

export class StreamReader {
  private buffer: JsMsg[] = [];
  private timer: NodeJS.Timeout | null = null;
  private position: StreamPosition;
  private gaps: Promise<void> = Promise.resolve();
  private closed = false;
  private readonly batchMax: number;

  constructor(
    private d: StreamReaderDeps,
    private js: JetStreamClient,
    private jsm: JetStreamManager,
  ) {
    this.batchMax = d.batchMax ?? FETCH_BATCH_MAX;
    const link = d.store.link(d.nodeId, d.kind);
    this.position = { lastStreamSeq: link.lastStreamSeq, streamCreated: link.streamCreated };
  }

  // Checks the stream and the consumer; throws with a clear message when they are not usable.
  async prepare(): Promise<void> {
    const info = await this.streamInfo();
    if (this.position.streamCreated && this.position.streamCreated !== info.created) {
      this.d.log.warn('a node stream was created anew: reading it from its start', { node: this.d.nodeName(), stream: this.d.stream });
      this.d.store.resetPosition(this.d.nodeId, this.d.kind, info.created);
      this.position = { lastStreamSeq: 0, streamCreated: info.created };
    }
    if (!this.position.streamCreated) this.position = { ...this.position, streamCreated: info.created };
    // Messages that expired while nobody read them and nothing newer followed: no later message
    // will reveal the gap, so account for it now.
    if (info.state.messages === 0 && info.state.first_seq > this.position.lastStreamSeq + 1) {
      await this.resolveGap({ from: this.position.lastStreamSeq + 1, to: info.state.first_seq - 1, next: null }, info);
    }
    await this.ensureConsumer();
  }

  // Fetches until the connection closes or close() is called.
  async run(): Promise<void> {
    const consumer = await this.js.consumers.get(this.d.stream, CONTROL_PLANE_CONSUMER);
    while (!this.closed) {
      const msgs = await consumer.fetch({ max_messages: this.batchMax, expires: FETCH_EXPIRES_MS });
      for await (const m of msgs) {
        this.buffer.push(m);
        if (this.buffer.length >= this.batchMax) this.flush();
        else if (!this.timer) this.timer = setTimeout(() => this.flush(), FLUSH_AFTER_MS);
      }
      this.flush();
    }
  }

  close(): void {
    this.closed = true;
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    this.buffer = [];
  }

  // Resolves when the gaps found so far are accounted for.
  settled(): Promise<void> {
    return this.gaps;
  }

  private flush(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    if (!this.buffer.length || this.closed) return;
    const batch = this.buffer.sort((a, b) => a.seq - b.seq);
    this.buffer = [];
    const now = Date.now();
    const events: EventRow[] = [];
    const metrics: MetricsRow[] = [];
    const good: JsMsg[] = [];
    const gaps: Gap[] = [];
    let last = this.position.lastStreamSeq;
    for (const m of batch) {
      let row: EventRow | MetricsRow;
      try {
        row = this.d.kind === 'events' ? decodeEvent(m.data, this.d.nodeId, m.seq, now) : decodeSample(m.data, this.d.nodeId);
      } catch (err) {
        if (!(err instanceof BadMessage)) throw err;
        this.d.log.warn('dropped a malformed message from a node', { node: this.d.nodeName(), stream: this.d.stream, streamSeq: m.seq, problem: err.message });
        m.term();
        last = Math.max(last, m.seq);
        continue;
      }
      if (m.seq > last + 1) gaps.push({ from: last + 1, to: m.seq - 1, next: 'seq' in row ? { seq: row.seq, atMs: row.atMs } : null });
      last = Math.max(last, m.seq);
      good.push(m);
      if (this.d.kind === 'events') events.push(row as EventRow);
      else metrics.push(row as MetricsRow);
    }
    const position = { ...this.position, lastStreamSeq: last };
    let stored: StoredBatch;
    try {
      stored =
        this.d.kind === 'events'
          ? { events: this.d.store.storeEvents(this.d.nodeId, events, position), metrics: [] }
          : { events: [], metrics: this.d.store.storeMetrics(this.d.nodeId, metrics, position) };
    } catch (err) {
      // Not stored, so not acked: the node keeps them and sends them again.
      this.d.log.warn('could not store a batch of node events; the node will send it again', { node: this.d.nodeName(), error: (err as Error).message });
      for (const m of good) m.nak(STORE_RETRY_MS);
      return;
    }
    this.position = position;
    for (const m of good) m.ack();
    for (const g of gaps) this.gaps = this.gaps.then(() => this.resolveGap(g).catch((err) => this.d.log.warn('could not check a gap in a node stream', { node: this.d.nodeName(), error: (err as Error).message })));
    if (stored.events.length || stored.metrics.length) this.d.onStored(stored);
  }

  // A gap in the stream sequences: the part below the stream's first sequence is gone for good;
  // the rest is still on the node (messages in flight when a connection dropped) and comes again.
  private async resolveGap(g: Gap, known?: StreamInfo): Promise<void> {
    const info = known ?? (await this.streamInfo());
    if (info.created !== this.position.streamCreated) return;
    const goneTo = Math.min(g.to, info.state.first_seq - 1);
    if (goneTo < g.from) return;
    const span = goneTo - g.from + 1;
    const lost = this.d.kind === 'events' ? span - this.d.store.storedInRange(this.d.nodeId, g.from, goneTo) : span;
    if (lost <= 0) return;
    const node = this.d.nodeName();
    const what = this.d.kind === 'events' ? 'events' : 'metrics samples';
    const message = `${lost} ${what} from node '${node}' were lost: the node's stream reached its limit and dropped them before the control plane read them (stream sequences ${g.from}-${goneTo}). Keep the control plane running more often, or raise the node's stream limits.`;
    this.d.log.warn(message, { node, stream: this.d.stream, lost, from: g.from, to: goneTo });
    const now = Date.now();
    const advanceTo = g.next ? undefined : { lastStreamSeq: goneTo, streamCreated: info.created };
    const event: EventRow | undefined =
      this.d.kind === 'events'
        ? {
            id: `lost:${this.d.nodeId}:${info.created}:${g.from}-${goneTo}`,
            nodeId: this.d.nodeId,
            seq: g.next ? g.next.seq - 1 : this.d.store.maxSeq(this.d.nodeId),
            streamSeq: 0,
            atMs: g.next?.atMs ?? now,
            receivedAtMs: now,
            kind: LOST_EVENT_KIND,
            severity: 'warning',
            app: null,
            container: null,
            release: null,
            message,
            data: { lost, fromStreamSeq: g.from, toStreamSeq: goneTo },
          }
        : undefined;
    this.d.store.recordLost(this.d.nodeId, this.d.kind, lost, { event, advanceTo });
    if (advanceTo) this.position = { ...this.position, lastStreamSeq: Math.max(this.position.lastStreamSeq, goneTo) };
    if (event) this.d.onStored({ events: [event], metrics: [] });
  }

  private async streamInfo(): Promise<StreamInfo> {
    try {
      return await this.jsm.streams.info(this.d.stream);
    } catch (err) {
      if (err instanceof JetStreamApiError && err.code === JetStreamApiCodes.StreamNotFound) {
        throw new Error(`node '${this.d.nodeName()}' has no stream ${this.d.stream} yet: its agent creates it when it starts (is the agent running and up to date?)`);
      }
      throw err;
    }
  }

  private async ensureConsumer(): Promise<void> {
    try {
      await this.jsm.consumers.info(this.d.stream, CONTROL_PLANE_CONSUMER);
      return;
    } catch (err) {
      if (!(err instanceof JetStreamApiError && err.code === JetStreamApiCodes.ConsumerNotFound)) throw err;
    }
    await this.jsm.consumers.add(this.d.stream, {
      durable_name: CONTROL_PLANE_CONSUMER,
      ack_policy: AckPolicy.Explicit,
      deliver_policy: DeliverPolicy.All,
      ack_wait: nanos(ACK_WAIT_MS),
      max_ack_pending: MAX_ACK_PENDING,
    });
    this.d.log.info('created the control-plane consumer on a node stream', { node: this.d.nodeName(), stream: this.d.stream });
  }
}

// The kind of the control plane's own warning when a node's stream dropped events unread.
export const LOST_EVENT_KIND = 'events.lost';
