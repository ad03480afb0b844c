// Turns a node's JetStream messages (JSON NodeEvent / MetricsSample, proto/node-events.ts) into
// rows. A node is trusted to report on itself only: the row's node is the link's, never the
// message's, and sizes are capped so one bad message cannot bloat the database.
import type { EventData, EventRow, MetricsRow } from './event-store';

export const MAX_MESSAGE_CHARS = 8_192;
export const MAX_FIELD_CHARS = 256;
export const MAX_DATA_KEYS = 64;

const SEVERITIES = new Set(['info', 'warning', 'error']);

export class BadMessage extends Error {}

function parse(body: Uint8Array | string): Record<string, unknown> {
  let v: unknown;
  try {
    v = JSON.parse(typeof body === 'string' ? body : Buffer.from(body.buffer, body.byteOffset, body.byteLength).toString('utf8'));
  } catch {
    throw new BadMessage('not JSON');
  }
  if (!v || typeof v !== 'object' || Array.isArray(v)) throw new BadMessage('not a JSON object');
  return v as Record<string, unknown>;
}

function str(o: Record<string, unknown>, key: string, max = MAX_FIELD_CHARS, allowEmpty = false): string {
  const v = o[key];
  if (typeof v !== 'string' || (!v && !allowEmpty)) throw new BadMessage(`'${key}' is missing or not a string`);
  return v.length > max ? v.slice(0, max) : v;
}

function optStr(o: Record<string, unknown>, key: string): string | null {
  const v = o[key];
  if (v === undefined || v === null) return null;
  if (typeof v !== 'string') throw new BadMessage(`'${key}' is not a string`);
  return v.slice(0, MAX_FIELD_CHARS);
}

function num(o: Record<string, unknown>, key: string): number {
  const v = o[key];
  if (typeof v !== 'number' || !Number.isFinite(v)) throw new BadMessage(`'${key}' is missing or not a number`);
  return v;
}

function data(v: unknown): EventData | null {
  if (v === undefined || v === null) return null;
  if (typeof v !== 'object' || Array.isArray(v)) throw new BadMessage("'data' is not an object");
  const out: EventData = {};
  for (const [k, x] of Object.entries(v as Record<string, unknown>).slice(0, MAX_DATA_KEYS)) {
    if (x === null || typeof x === 'number' || typeof x === 'boolean') out[k] = x;
    else if (typeof x === 'string') out[k] = x.slice(0, MAX_FIELD_CHARS);
  }
  return out;
}

export function decodeEvent(body: Uint8Array | string, nodeId: string, streamSeq: number, receivedAtMs: number): EventRow {
  const o = parse(body);
  const severity = o.severity === undefined ? 'info' : o.severity;
  if (typeof severity !== 'string' || !SEVERITIES.has(severity)) throw new BadMessage("'severity' is not info, warning or error");
  return {
    id: str(o, 'id'),
    nodeId,
    seq: num(o, 'seq'),
    streamSeq,
    atMs: num(o, 'atMs'),
    receivedAtMs,
    kind: str(o, 'kind', 64),
    severity: severity as EventRow['severity'],
    app: optStr(o, 'app'),
    container: optStr(o, 'container'),
    release: optStr(o, 'release'),
    message: str(o, 'message', MAX_MESSAGE_CHARS, true),
    data: data(o.data),
  };
}

export function decodeSample(body: Uint8Array | string, nodeId: string): MetricsRow {
  const o = parse(body);
  return {
    id: str(o, 'id'),
    nodeId,
    app: str(o, 'app'),
    container: str(o, 'container'),
    atMs: num(o, 'atMs'),
    cpuPercent: num(o, 'cpuPercent'),
    memBytes: num(o, 'memBytes'),
    memLimitBytes: num(o, 'memLimitBytes'),
    restarts: num(o, 'restarts'),
  };
}
