// A tiny client for Podman's REST API over its unix socket. No CLI parsing anywhere.
import { request, type IncomingMessage } from 'node:http';
import { Readable } from 'node:stream';

// Short: a handshake waits for the Podman version and must answer within the caller's deadline.
export const PODMAN_REQUEST_TIMEOUT_MS = 2_000;
export const LIBPOD_API_PREFIX = '/v4.0.0/libpod';
const MAX_ERROR_BODY_CHARS = 300;

export class PodmanError extends Error {
  constructor(
    message: string,
    readonly socketPath: string,
    readonly statusCode?: number,
    // Podman's own words from its error body ({"cause","message","response"}), when it sent them.
    readonly podmanCause?: string,
  ) {
    super(message);
    this.name = 'PodmanError';
  }
}

// True when Podman said "no such container/image" (HTTP 404).
export function isPodmanNotFound(err: unknown): boolean {
  return err instanceof PodmanError && err.statusCode === 404;
}

// Re-raise a PodmanError with what the caller was doing in front ("container web-1: start: …").
export function withContext<T>(context: string, work: Promise<T>): Promise<T> {
  return work.catch((err: unknown) => {
    if (err instanceof PodmanError) throw new PodmanError(`${context}: ${err.message}`, err.socketPath, err.statusCode, err.podmanCause);
    throw err;
  });
}

export type QueryValue = string | number | boolean | undefined;

export interface PodmanRequestOptions {
  method?: 'GET' | 'POST' | 'PUT' | 'DELETE';
  query?: Record<string, QueryValue>;
  // A plain value is sent as JSON; a Buffer or a stream is sent as is (set Content-Type in headers).
  body?: unknown;
  headers?: Record<string, string>;
  // Idle timeout of the socket (nothing received for this long); 0 disables it.
  timeoutMs?: number;
  signal?: AbortSignal;
  // Statuses besides 2xx that are answers, not failures (e.g. 304 "already started").
  acceptStatuses?: number[];
}

export interface PodmanResponse {
  status: number;
  body: string;
}

export class PodmanClient {
  constructor(
    readonly socketPath: string,
    private readonly timeoutMs = PODMAN_REQUEST_TIMEOUT_MS,
  ) {}

  // GET a libpod path (e.g. '/version') and parse the JSON answer.
  getJson<T>(path: string): Promise<T> {
    return this.json<T>(path);
  }

  // Any method on a libpod path; parses the JSON answer.
  async json<T>(path: string, options: PodmanRequestOptions = {}): Promise<T> {
    const { status, body } = await this.call(path, options);
    try {
      return JSON.parse(body) as T;
    } catch {
      throw this.error(options, path, `answered something that is not JSON: ${body.slice(0, MAX_ERROR_BODY_CHARS)}`, status);
    }
  }

  // Any method on a libpod path; the status and the body as text. Fails on statuses outside
  // 2xx and options.acceptStatuses, with Podman's message.
  async call(path: string, options: PodmanRequestOptions = {}): Promise<PodmanResponse> {
    const res = await this.open(path, options);
    const chunks: Buffer[] = [];
    try {
      for await (const c of res) chunks.push(c as Buffer);
    } catch (err) {
      throw this.error(options, path, `failed while reading: ${(err as Error).message}`, res.statusCode);
    }
    return { status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString('utf8') };
  }

  // Any method on a libpod path; resolves with the response stream once Podman answered with an
  // accepted status (a failure status is read and rejected like call()). The caller consumes it;
  // destroying it (or aborting options.signal) ends the request.
  open(path: string, options: PodmanRequestOptions = {}): Promise<IncomingMessage> {
    const method = options.method ?? 'GET';
    const fullPath = this.fullPath(path, options.query);
    const timeoutMs = options.timeoutMs ?? this.timeoutMs;
    return new Promise((resolve, reject) => {
      let settled = false;
      const fail = (why: string, status?: number, cause?: string) => {
        if (settled) return;
        settled = true;
        reject(this.error(options, path, why, status, cause));
      };
      if (options.signal?.aborted) return fail('cancelled');
      const headers: Record<string, string> = { Host: 'podman', ...options.headers };
      let payload: Buffer | Readable | undefined;
      if (options.body instanceof Readable || Buffer.isBuffer(options.body)) payload = options.body;
      else if (options.body !== undefined) {
        payload = Buffer.from(JSON.stringify(options.body));
        headers['Content-Type'] ??= 'application/json';
      }
      if (Buffer.isBuffer(payload)) headers['Content-Length'] = String(payload.length);
      const req = request({ socketPath: this.socketPath, path: fullPath, method, headers }, (res) => {
        const status = res.statusCode ?? 0;
        if ((status >= 200 && status < 300) || options.acceptStatuses?.includes(status)) {
          settled = true;
          res.on('close', () => options.signal?.removeEventListener('abort', onAbort));
          return resolve(res);
        }
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('error', (err) => fail(`failed while reading: ${err.message}`, status));
        res.on('end', () => {
          const body = Buffer.concat(chunks).toString('utf8');
          const { message, cause } = podmanErrorBody(body);
          fail(`answered HTTP ${status}: ${message}`, status, cause);
        });
      });
      const onAbort = () => req.destroy(new Error('cancelled'));
      options.signal?.addEventListener('abort', onAbort, { once: true });
      if (timeoutMs > 0) req.setTimeout(timeoutMs, () => req.destroy(new Error(`timed out after ${timeoutMs} ms`)));
      req.on('error', (err) => fail(err.message === 'cancelled' || err.message.startsWith('timed out') ? err.message : `failed: ${err.message}`));
      req.on('close', () => {
        if (!settled) options.signal?.removeEventListener('abort', onAbort);
      });
      if (payload instanceof Readable) {
        payload.on('error', (err) => req.destroy(new Error(`request body failed: ${err.message}`)));
        payload.pipe(req);
      } else req.end(payload);
    });
  }

  private fullPath(path: string, query?: Record<string, QueryValue>): string {
    const params = new URLSearchParams();
    for (const [k, v] of Object.entries(query ?? {})) if (v !== undefined) params.set(k, String(v));
    const qs = params.toString();
    return `${LIBPOD_API_PREFIX}${path}${qs ? (path.includes('?') ? '&' : '?') + qs : ''}`;
  }

  private error(options: PodmanRequestOptions, path: string, why: string, status?: number, cause?: string): PodmanError {
    const method = options.method ?? 'GET';
    return new PodmanError(`Podman at ${this.socketPath}: ${method} ${this.fullPath(path, options.query)} ${why}`, this.socketPath, status, cause);
  }
}

// Podman's error bodies are {"cause":"no such container","message":"no container with name …","response":404}.
function podmanErrorBody(body: string): { message: string; cause?: string } {
  try {
    const parsed = JSON.parse(body) as { message?: unknown; cause?: unknown };
    if (typeof parsed.message === 'string' && parsed.message) {
      return { message: parsed.message.slice(0, MAX_ERROR_BODY_CHARS), cause: typeof parsed.cause === 'string' ? parsed.cause : undefined };
    }
  } catch {
    // not JSON: quote it
  }
  return { message: body.slice(0, MAX_ERROR_BODY_CHARS) };
}

// Podman's filters query parameter: JSON of {name: [values]}.
export function podmanFilters(filters: Record<string, string[] | undefined>): string | undefined {
  const present = Object.fromEntries(Object.entries(filters).filter(([, v]) => v && v.length > 0));
  return Object.keys(present).length > 0 ? JSON.stringify(present) : undefined;
}

// Reads a stream of JSON objects, one a line (pull and build progress), calling onObject for each.
export async function readJsonLines(stream: Readable, onObject: (obj: Record<string, unknown>) => void): Promise<void> {
  let rest = '';
  const handle = (line: string) => {
    const trimmed = line.trim();
    if (!trimmed) return;
    let obj: unknown;
    try {
      obj = JSON.parse(trimmed);
    } catch {
      obj = { stream: `${trimmed}\n` };
    }
    if (obj && typeof obj === 'object') onObject(obj as Record<string, unknown>);
  };
  stream.setEncoding('utf8');
  for await (const chunk of stream) {
    rest += chunk as string;
    let nl: number;
    while ((nl = rest.indexOf('\n')) >= 0) {
      handle(rest.slice(0, nl));
      rest = rest.slice(nl + 1);
    }
  }
  handle(rest);
}
