// The agent's NodeEventSink: every event and metrics sample goes to the node's JetStream. emit()
// only numbers the event and queues it (bounded, oldest dropped first); one pump publishes the
// queue in order, a window of messages at a time, and on failure retries from the first
// unacknowledged message with the same ids (the Nats-Msg-Id), so the stream stores each once.
import { connect, errors, nkeyAuthenticator, nanos, nuid, type NatsConnection } from '@nats-io/transport-node';
import { DiscardPolicy, JetStreamApiCodes, JetStreamApiError, jetstream, jetstreamManager, RetentionPolicy, StorageType, type JetStreamClient, type JetStreamManager, type StreamConfig } from '@nats-io/jetstream';
import {
  EVENTS_STREAM,
  EVENTS_SUBJECT_PREFIX,
  eventSubject,
  METRICS_STREAM,
  METRICS_SUBJECT_PREFIX,
  metricsSubject,
  type EventSeverity,
  type MetricsSample,
  type NodeEvent,
  type NodeEventInput,
  type NodeEventKind,
  type NodeEventSink,
} from '../../proto/node-events';
import type { Logger } from '../logger';
import { EventSeq } from './event-seq';
import { AGENT_INBOX_PREFIX, type StreamLimits } from './nats-config';

// Events waiting for nats-server; beyond this the oldest go (a week offline is what the streams
// are for; this queue only covers nats-server being down or restarting).
export const MAX_QUEUED = 50_000;
// Messages in flight per round trip.
export const PUBLISH_WINDOW = 1_000;
export const PUBLISH_TIMEOUT_MS = 2_000;
export const RETRY_INITIAL_MS = 100;
export const RETRY_MAX_MS = 5_000;
// A retried publish within this window is stored once (JetStream's Nats-Msg-Id dedupe).
export const DUPLICATE_WINDOW_MS = 2 * 60_000;
export const STREAM_CHECK_INTERVAL_MS = 30_000;
// A stream this full (of its message or byte limit) is reported once per crossing...
export const NEAR_LIMIT_RATIO = 0.9;
// ...and the report re-arms once it is below this again.
export const NEAR_LIMIT_REARM_RATIO = 0.8;
export const CLOSE_DEADLINE_MS = 3_000;
// Larger events lose their data and most of their message (nats-server refuses above 1 MiB).
export const MAX_EVENT_BYTES = 64 * 1024;
const MAX_CUT_MESSAGE_CHARS = 1_000;

const DEFAULT_SEVERITY: Partial<Record<NodeEventKind, EventSeverity>> = {
  'container.died': 'warning',
  'container.oom': 'error',
  'probe.failing': 'warning',
  'restart.failed': 'error',
  'crashloop.entered': 'error',
  'agent.warning': 'warning',
};

export type MetricsSampleInput = Omit<MetricsSample, 'id' | 'node'>;

export interface PublisherStats {
  // Waiting in memory for nats-server.
  queued: number;
  // Acknowledged by JetStream (a deduplicated retry counts once).
  published: number;
  // Given up on: refused by nats-server for good (e.g. an invalid subject).
  failed: number;
  // Pushed out of a full queue, oldest first.
  dropped: number;
}

export interface EventPublisherOptions {
  nodeId: string;
  port: number;
  agentSeed: string;
  stateDir: string;
  limits: StreamLimits;
  log: Logger;
  maxQueued?: number;
  streamCheckIntervalMs?: number;
  publishTimeoutMs?: number;
}

interface Pending {
  id: string;
  subject: string;
  data: Uint8Array;
}

const encoder = new TextEncoder();

export class EventPublisher implements NodeEventSink {
  private readonly seq: EventSeq;
  private queue: Pending[] = [];
  private head = 0;
  private readonly counts = { published: 0, failed: 0, dropped: 0 };
  // Dropped since the queue last overflowed; reported when it drains.
  private droppedNow = 0;
  private nc: NatsConnection | null = null;
  private js: JetStreamClient | null = null;
  private jsm: JetStreamManager | null = null;
  private streamsReady = false;
  private pumping = false;
  private closed = false;
  private outage: { since: number; error: string } | null = null;
  private retryMs = RETRY_INITIAL_MS;
  private wake: (() => void) | null = null;
  private checkTimer: NodeJS.Timeout | undefined;
  private nearLimit = new Map<string, boolean>();
  private idle: Array<() => void> = [];

  constructor(private readonly opts: EventPublisherOptions) {
    this.seq = new EventSeq(opts.stateDir, opts.log);
  }

  // Connects in the background (retrying until nats-server answers) and starts publishing.
  start(): void {
    if (this.closed || this.checkTimer) return;
    void this.connectLoop();
    this.checkTimer = setInterval(() => void this.checkStreams(), this.opts.streamCheckIntervalMs ?? STREAM_CHECK_INTERVAL_MS);
    this.checkTimer.unref();
  }

  emit(input: NodeEventInput): void {
    try {
      if (this.closed) {
        this.opts.log.debug({ event: 'event_after_close', kind: input.kind }, 'event emitted after the publisher closed; not kept');
        return;
      }
      const event: NodeEvent = {
        id: nuid.next(),
        node: this.opts.nodeId,
        seq: this.seq.next(),
        atMs: Date.now(),
        kind: input.kind,
        severity: input.severity ?? DEFAULT_SEVERITY[input.kind] ?? 'info',
        message: input.message,
        ...(input.app !== undefined ? { app: input.app } : {}),
        ...(input.container !== undefined ? { container: input.container } : {}),
        ...(input.release !== undefined ? { release: input.release } : {}),
        ...(input.data !== undefined ? { data: input.data } : {}),
      };
      this.enqueue({ id: event.id, subject: eventSubject(event.kind), data: encodeBounded(event) });
    } catch (err) {
      this.opts.log.error({ event: 'event_emit_failed', kind: input?.kind, err: (err as Error).message }, 'an event could not be queued');
    }
  }

  publishMetrics(sample: MetricsSampleInput): void {
    try {
      if (this.closed) return;
      const full: MetricsSample = { id: nuid.next(), node: this.opts.nodeId, ...sample };
      this.enqueue({ id: full.id, subject: metricsSubject(subjectToken(sample.app)), data: encoder.encode(JSON.stringify(full)) });
    } catch (err) {
      this.opts.log.error({ event: 'metrics_emit_failed', app: sample?.app, err: (err as Error).message }, 'a metrics sample could not be queued');
    }
  }

  stats(): PublisherStats {
    return { queued: this.queue.length - this.head, ...this.counts };
  }

  // Resolves when the queue is empty (or after timeoutMs); tests and close() use it.
  async flushed(timeoutMs: number): Promise<boolean> {
    if (this.stats().queued === 0) return true;
    let timer: NodeJS.Timeout | undefined;
    const done = await Promise.race([
      new Promise<boolean>((resolve) => this.idle.push(() => resolve(true))),
      new Promise<boolean>((resolve) => (timer = setTimeout(() => resolve(false), timeoutMs))),
    ]);
    clearTimeout(timer);
    return done;
  }

  // Publishes what it can within the deadline, then disconnects. Events still queued are lost.
  async close(deadlineMs = CLOSE_DEADLINE_MS): Promise<PublisherStats> {
    if (this.closed) return this.stats();
    const flushed = await this.flushed(deadlineMs);
    this.closed = true;
    clearInterval(this.checkTimer);
    this.wakeNow();
    const stats = this.stats();
    if (!flushed) this.opts.log.warn({ event: 'events_unsent_at_close', ...stats }, `${stats.queued} events were not published before the agent stopped; they are lost`);
    await this.nc?.close().catch(() => undefined);
    return stats;
  }

  private enqueue(p: Pending): void {
    const max = this.opts.maxQueued ?? MAX_QUEUED;
    this.queue.push(p);
    if (this.queue.length - this.head > max) {
      this.head++;
      this.counts.dropped++;
      this.droppedNow++;
      if (this.droppedNow === 1) {
        this.opts.log.warn(
          { event: 'event_queue_overflow', max, err: this.outage?.error },
          `the agent's event queue is full (${max} events waiting for nats-server${this.outage ? `: ${this.outage.error}` : ''}); the oldest are dropped until nats-server takes them again`,
        );
      }
    }
    if (this.head > 4_096 && this.head * 2 > this.queue.length) {
      this.queue = this.queue.slice(this.head);
      this.head = 0;
    }
    this.kick();
  }

  // New messages: the pump starts unless it runs (a pump backing off keeps its pace).
  private kick(): void {
    if (!this.pumping) void this.pump();
  }

  // The connection came (back): a pump waiting for it goes on at once.
  private wakeNow(): void {
    const w = this.wake;
    this.wake = null;
    w?.();
    this.kick();
  }

  private async connectLoop(): Promise<void> {
    const { log, port } = this.opts;
    let delay = RETRY_INITIAL_MS;
    while (!this.closed) {
      let nc: NatsConnection | null = null;
      try {
        nc = await connect({
          servers: `127.0.0.1:${port}`,
          name: `podploy-agent ${this.opts.nodeId}`,
          authenticator: nkeyAuthenticator(encoder.encode(this.opts.agentSeed)),
          inboxPrefix: AGENT_INBOX_PREFIX,
          reconnect: true,
          maxReconnectAttempts: -1,
          reconnectTimeWait: 250,
          ignoreAuthErrorAbort: true,
          // Each request would otherwise build an Error for its stack trace: a third of the CPU.
          noAsyncTraces: true,
        });
        if (this.closed) {
          await nc.close();
          return;
        }
        this.nc = nc;
        this.js = jetstream(nc, { timeout: this.opts.publishTimeoutMs ?? PUBLISH_TIMEOUT_MS });
        this.jsm = await jetstreamManager(nc, { checkAPI: false });
        this.streamsReady = false;
        log.info({ event: 'events_connected', port }, 'connected to the node\'s nats-server');
        void this.watchStatus(nc);
        this.wakeNow();
        await nc.closed();
        this.nc = this.js = this.jsm = null;
        if (this.closed) return;
        log.warn({ event: 'events_connection_closed' }, 'the connection to nats-server closed; connecting again');
        delay = RETRY_INITIAL_MS;
      } catch (err) {
        this.noteOutage(err);
        await nc?.close().catch(() => undefined);
        this.nc = this.js = this.jsm = null;
        await sleep(delay);
        delay = Math.min(delay * 2, RETRY_MAX_MS);
      }
    }
  }

  private async watchStatus(nc: NatsConnection): Promise<void> {
    for await (const s of nc.status()) {
      if (s.type === 'disconnect') this.noteOutage(new Error(`disconnected from nats-server (${s.server})`));
      else if (s.type === 'reconnect') {
        // A nats-server that lost its store has no streams: check them before the next publish.
        this.streamsReady = false;
        this.wakeNow();
      } else if (s.type === 'error') this.opts.log.warn({ event: 'events_server_error', err: s.error.message }, `nats-server: ${s.error.message}`);
    }
  }

  private async pump(): Promise<void> {
    this.pumping = true;
    try {
      while (!this.closed && this.queue.length > this.head) {
        const js = this.js;
        if (!js) {
          await this.sleepUntilKicked(RETRY_MAX_MS);
          continue;
        }
        if (!this.streamsReady) {
          try {
            await this.ensureStreams();
            this.streamsReady = true;
          } catch (err) {
            await this.backOff(err);
            continue;
          }
        }
        const batch = this.queue.slice(this.head, this.head + PUBLISH_WINDOW);
        const results = await Promise.allSettled(batch.map((p) => js.publish(p.subject, p.data, { msgID: p.id })));
        let i = 0;
        for (; i < batch.length && results[i].status === 'fulfilled'; i++) this.acknowledged(batch[i]);
        if (i === batch.length) {
          this.recovered();
          continue;
        }
        const err = (results[i] as PromiseRejectedResult).reason as Error;
        if (isPermanent(err)) {
          this.counts.failed++;
          this.opts.log.error({ event: 'event_refused', subject: batch[i].subject, id: batch[i].id, err: err.message }, `nats-server refused an event for good (${err.message}); it is dropped`);
          this.acknowledged(batch[i], false);
          continue;
        }
        if (/no responders|not enabled/i.test(err.message)) this.streamsReady = false;
        await this.backOff(err);
      }
    } finally {
      this.pumping = false;
    }
    if (this.queue.length === this.head) for (const done of this.idle.splice(0)) done();
  }

  // Removes p from the head of the queue (unless an overflow dropped it meanwhile).
  private acknowledged(p: Pending, published = true): void {
    if (published) this.counts.published++;
    if (this.queue[this.head] === p) this.head++;
    if (this.queue.length === this.head) {
      this.queue = [];
      this.head = 0;
      if (this.droppedNow > 0) {
        // Reported once the queue drained, so that the warning itself is not pushed out.
        const dropped = this.droppedNow;
        this.droppedNow = 0;
        const message = `${dropped} events were dropped, oldest first, because nats-server did not take them for a while and the agent's queue holds ${this.opts.maxQueued ?? MAX_QUEUED}`;
        this.opts.log.warn({ event: 'event_queue_drained', dropped }, message);
        this.emit({ kind: 'agent.warning', severity: 'warning', message, data: { dropped } });
      }
    }
  }

  private async backOff(err: unknown): Promise<void> {
    this.noteOutage(err);
    await this.sleepUntilKicked(this.retryMs);
    this.retryMs = Math.min(this.retryMs * 2, RETRY_MAX_MS);
  }

  private noteOutage(err: unknown): void {
    const error = (err as Error)?.message ?? String(err);
    if (this.outage || this.closed) return;
    this.outage = { since: Date.now(), error };
    this.opts.log.warn({ event: 'events_waiting', err: error, queued: this.stats().queued }, `events wait for nats-server (${error}); they are kept in memory and published in order once it answers`);
  }

  private recovered(): void {
    this.retryMs = RETRY_INITIAL_MS;
    if (!this.outage) return;
    this.opts.log.info({ event: 'events_publishing', outageMs: Date.now() - this.outage.since }, 'nats-server takes events again');
    this.outage = null;
  }

  private sleepUntilKicked(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        this.wake = null;
        resolve();
      }, ms);
      this.wake = () => {
        clearTimeout(timer);
        resolve();
      };
    });
  }

  private streamConfigs(): Array<Partial<StreamConfig> & { name: string }> {
    const l = this.opts.limits;
    const common = {
      storage: StorageType.File,
      retention: RetentionPolicy.Limits,
      discard: DiscardPolicy.Old,
      max_age: nanos(l.maxAgeMs),
      duplicate_window: nanos(DUPLICATE_WINDOW_MS),
      num_replicas: 1,
    };
    return [
      { name: EVENTS_STREAM, subjects: [`${EVENTS_SUBJECT_PREFIX}.>`], max_msgs: l.eventsMaxMsgs, max_bytes: l.eventsMaxBytes, ...common },
      { name: METRICS_STREAM, subjects: [`${METRICS_SUBJECT_PREFIX}.>`], max_msgs: l.metricsMaxMsgs, max_bytes: l.metricsMaxBytes, ...common },
    ];
  }

  // Creates the streams, or updates their limits when the config changed them.
  private async ensureStreams(): Promise<void> {
    const jsm = this.jsm;
    if (!jsm) throw new Error('not connected to nats-server');
    for (const want of this.streamConfigs()) {
      const have = await jsm.streams.info(want.name).catch((err: unknown) => {
        if (err instanceof JetStreamApiError && (err.status === 404 || err.code === JetStreamApiCodes.StreamNotFound)) return null;
        throw err;
      });
      if (!have) {
        await jsm.streams.add(want);
        this.opts.log.info({ event: 'stream_created', stream: want.name, maxMsgs: want.max_msgs, maxBytes: want.max_bytes }, `created the JetStream stream ${want.name}`);
        continue;
      }
      const c = have.config;
      if (c.max_msgs !== want.max_msgs || c.max_bytes !== want.max_bytes || c.max_age !== want.max_age || c.duplicate_window !== want.duplicate_window || c.discard !== want.discard) {
        await jsm.streams.update(want.name, { max_msgs: want.max_msgs, max_bytes: want.max_bytes, max_age: want.max_age, duplicate_window: want.duplicate_window, discard: want.discard });
        this.opts.log.info({ event: 'stream_updated', stream: want.name, maxMsgs: want.max_msgs, maxBytes: want.max_bytes }, `updated the limits of the JetStream stream ${want.name}`);
      }
    }
  }

  // Reports a stream at NEAR_LIMIT_RATIO of a limit once per crossing: from there on JetStream
  // drops its oldest messages, which a control plane that stays away longer never sees.
  async checkStreams(): Promise<void> {
    const jsm = this.jsm;
    if (!jsm || !this.streamsReady || this.closed) return;
    for (const name of [EVENTS_STREAM, METRICS_STREAM]) {
      try {
        const { state, config } = await jsm.streams.info(name);
        const msgRatio = config.max_msgs > 0 ? state.messages / config.max_msgs : 0;
        const byteRatio = config.max_bytes > 0 ? state.bytes / config.max_bytes : 0;
        const ratio = Math.max(msgRatio, byteRatio);
        const was = this.nearLimit.get(name) ?? false;
        if (!was && ratio >= NEAR_LIMIT_RATIO) {
          this.nearLimit.set(name, true);
          const which = msgRatio >= byteRatio ? `${state.messages} of ${config.max_msgs} messages` : `${state.bytes} of ${config.max_bytes} bytes`;
          const message = `the JetStream stream ${name} is at ${Math.round(ratio * 100)}% of its limit (${which}); the oldest messages are dropped first, so a control plane away longer will miss them`;
          this.opts.log.warn({ event: 'stream_near_limit', stream: name, messages: state.messages, bytes: state.bytes, maxMsgs: config.max_msgs, maxBytes: config.max_bytes }, message);
          this.emit({ kind: 'agent.warning', severity: 'warning', message, data: { stream: name, messages: state.messages, bytes: state.bytes, maxMsgs: config.max_msgs, maxBytes: config.max_bytes } });
        } else if (was && ratio < NEAR_LIMIT_REARM_RATIO) this.nearLimit.set(name, false);
      } catch (err) {
        this.opts.log.debug({ event: 'stream_check_failed', stream: name, err: (err as Error).message }, 'stream info failed');
      }
    }
  }
}

// Errors a retry cannot fix: publishing the same message again would fail the same way.
function isPermanent(err: unknown): boolean {
  if (err instanceof errors.RequestError && err.cause) return isPermanent(err.cause);
  return err instanceof errors.InvalidSubjectError || err instanceof errors.InvalidArgumentError || err instanceof errors.PermissionViolationError || err instanceof JetStreamApiError;
}

function encodeBounded(event: NodeEvent): Uint8Array {
  const data = encoder.encode(JSON.stringify(event));
  if (data.length <= MAX_EVENT_BYTES) return data;
  const { data: _dropped, ...rest } = event;
  return encoder.encode(JSON.stringify({ ...rest, message: `${event.message.slice(0, MAX_CUT_MESSAGE_CHARS)} [cut: the event was ${data.length} bytes]` }));
}

// A subject token from an app name: no dots, spaces or wildcards.
function subjectToken(name: string): string {
  return name.replace(/[^A-Za-z0-9_-]/g, '_') || '_';
}

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}
