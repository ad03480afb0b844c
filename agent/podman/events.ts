// Podman's events stream (GET /libpod/events?stream=true), one JSON object a line, kept open:
// when the socket goes away (the Podman service restarts) it reconnects with a short back-off and
// tells its owner, who should then compare what it expects with what Podman has (events that
// happened while it was away are replayed from the last one seen, but a service restart can lose
// some).
import type { IncomingMessage } from 'node:http';
import type { Logger } from '../logger';
import { podmanFilters, readJsonLines, type PodmanClient } from './client';

export const EVENTS_RECONNECT_INITIAL_MS = 100;
export const EVENTS_RECONNECT_MAX_MS = 2_000;
const NANOS_PER_MS = 1_000_000;

export interface PodmanEvent {
  // container, image, volume, pod, …
  type: string;
  // create, init, start, died, stop, kill, oom, cleanup, remove, health_status, …
  action: string;
  id: string;
  name: string;
  attributes: Record<string, string>;
  // When Podman recorded it, ns since the epoch.
  timeNano: number;
  // died: the container's exit code.
  exitCode?: number;
}

export interface EventStreamOptions {
  podman: PodmanClient;
  // Podman's filters, e.g. { type: ['container'] }.
  filters?: Record<string, string[]>;
  onEvent: (event: PodmanEvent) => void;
  // Every time the stream is open (again); reconnect is false the first time.
  onConnect?: (info: { reconnect: boolean; downMs: number }) => void;
  onDisconnect?: (reason: string) => void;
  log?: Logger;
  initialBackoffMs?: number;
  maxBackoffMs?: number;
}

export class PodmanEventStream {
  private closed = false;
  private res?: IncomingMessage;
  private controller?: AbortController;
  private timer?: NodeJS.Timeout;
  private connects = 0;
  private backoffMs: number;
  private downSince?: number;
  // The last event delivered: a reconnect asks Podman for what came after it.
  private lastNano = 0;
  private lastKeys = new Set<string>();
  private _connected = false;

  constructor(private readonly options: EventStreamOptions) {
    this.backoffMs = options.initialBackoffMs ?? EVENTS_RECONNECT_INITIAL_MS;
  }

  get connected(): boolean {
    return this._connected;
  }

  start(): void {
    if (this.closed || this.controller) return;
    if (this.lastNano === 0) this.lastNano = Date.now() * NANOS_PER_MS;
    void this.connect();
  }

  close(): void {
    this.closed = true;
    clearTimeout(this.timer);
    this.controller?.abort();
    this.res?.destroy();
  }

  private async connect(): Promise<void> {
    const { podman, log } = this.options;
    const controller = new AbortController();
    this.controller = controller;
    // Podman's since has whole seconds: events of the last second come again and are dropped
    // below by their time and identity.
    const since = Math.floor(this.lastNano / 1_000_000_000);
    let res: IncomingMessage;
    try {
      res = await podman.open('/events', {
        query: { stream: true, since, filters: podmanFilters(this.options.filters ?? {}) },
        timeoutMs: 0,
        signal: controller.signal,
      });
    } catch (err) {
      this.controller = undefined;
      if (!this.closed) this.retry((err as Error).message);
      return;
    }
    if (this.closed) {
      res.destroy();
      return;
    }
    this.res = res;
    this._connected = true;
    const reconnect = this.connects > 0;
    const downMs = this.downSince === undefined ? 0 : Date.now() - this.downSince;
    this.connects++;
    this.downSince = undefined;
    this.backoffMs = this.options.initialBackoffMs ?? EVENTS_RECONNECT_INITIAL_MS;
    if (reconnect) log?.info({ event: 'podman_events_reconnected', downMs }, `Podman's events stream is open again after ${downMs} ms`);
    try {
      this.options.onConnect?.({ reconnect, downMs });
    } catch (err) {
      log?.error({ event: 'podman_events_listener_failed', err: (err as Error).message }, 'the events stream listener failed');
    }
    let reason = 'Podman closed the events stream';
    try {
      await readJsonLines(res, (obj) => this.deliver(obj));
    } catch (err) {
      reason = `the events stream broke: ${(err as Error).message}`;
    }
    this._connected = false;
    this.res = undefined;
    this.controller = undefined;
    if (!this.closed) this.retry(reason);
  }

  private deliver(obj: Record<string, unknown>): void {
    const event = parseEvent(obj);
    if (!event) return;
    // A replayed event (same second as the last one seen) is delivered once.
    const key = `${event.timeNano}/${event.id}/${event.action}`;
    if (event.timeNano < this.lastNano || this.lastKeys.has(key)) return;
    if (event.timeNano > this.lastNano) this.lastKeys.clear();
    this.lastNano = event.timeNano;
    this.lastKeys.add(key);
    try {
      this.options.onEvent(event);
    } catch (err) {
      this.options.log?.error({ event: 'podman_events_listener_failed', err: (err as Error).message, action: event.action }, 'an events stream listener failed');
    }
  }

  private retry(reason: string): void {
    if (this.downSince === undefined) {
      this.downSince = Date.now();
      this.options.log?.warn({ event: 'podman_events_lost', reason }, `Podman's events stream is closed (${reason}); reconnecting`);
      this.options.onDisconnect?.(reason);
    }
    const wait = this.backoffMs;
    this.backoffMs = Math.min(this.options.maxBackoffMs ?? EVENTS_RECONNECT_MAX_MS, this.backoffMs * 2);
    this.timer = setTimeout(() => void this.connect(), wait);
  }
}

// Podman's event JSON: {Type, Action, Actor: {ID, Attributes: {name, containerExitCode, …}},
// time, timeNano}. Anything else is ignored.
export function parseEvent(obj: Record<string, unknown>): PodmanEvent | undefined {
  const actor = obj.Actor as { ID?: unknown; Attributes?: Record<string, unknown> } | undefined;
  const type = typeof obj.Type === 'string' ? obj.Type : undefined;
  const action = typeof obj.Action === 'string' ? obj.Action : typeof obj.status === 'string' ? obj.status : undefined;
  if (!type || !action) return undefined;
  const attributes: Record<string, string> = {};
  for (const [k, v] of Object.entries(actor?.Attributes ?? {})) if (typeof v === 'string') attributes[k] = v;
  const id = typeof actor?.ID === 'string' ? actor.ID : typeof obj.id === 'string' ? obj.id : '';
  const timeNano = typeof obj.timeNano === 'number' ? obj.timeNano : typeof obj.time === 'number' ? obj.time * 1_000_000_000 : Date.now() * NANOS_PER_MS;
  const event: PodmanEvent = { type, action, id, name: attributes.name ?? '', attributes, timeNano };
  const code = attributes.containerExitCode;
  if (action === 'died' && code !== undefined && /^-?\d+$/.test(code)) event.exitCode = Number(code);
  return event;
}
