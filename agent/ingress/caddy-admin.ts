// A small client for Caddy's admin API: the only way the agent changes Caddy (no file reloads).
import { isDeepStrictEqual } from 'node:util';
import { request } from 'node:http';

// Loading a config provisions every app, so it gets longer than a read.
export const CADDY_ADMIN_TIMEOUT_MS = 10_000;
export const DEFAULT_CADDY_ADMIN_LISTEN = '127.0.0.1:2019';
const MAX_ERROR_BODY_CHARS = 300;

// TCP (loopback) or a unix socket (Caddy's `unix//path` listen form).
export type CaddyAdminEndpoint = { host: string; port: number } | { socketPath: string };

export interface UpstreamStatus {
  address: string;
  // Requests Caddy has in flight to this upstream right now: the drain signal.
  num_requests: number;
  fails: number;
}

export class CaddyAdminError extends Error {
  constructor(
    message: string,
    readonly endpoint: string,
    readonly method: string,
    readonly path: string,
    readonly statusCode?: number,
  ) {
    super(message);
    this.name = 'CaddyAdminError';
  }
}

export function describeEndpoint(endpoint: CaddyAdminEndpoint): string {
  return 'socketPath' in endpoint ? `unix:${endpoint.socketPath}` : `http://${endpoint.host}:${endpoint.port}`;
}

// Caddy's admin `listen` value for an endpoint, for the config it must keep.
export function adminListenValue(endpoint: CaddyAdminEndpoint): string {
  return 'socketPath' in endpoint ? `unix/${endpoint.socketPath}` : `${endpoint.host}:${endpoint.port}`;
}

export class CaddyAdmin {
  readonly endpointText: string;

  constructor(
    readonly endpoint: CaddyAdminEndpoint,
    private readonly timeoutMs = CADDY_ADMIN_TIMEOUT_MS,
  ) {
    this.endpointText = describeEndpoint(endpoint);
  }

  // Replaces Caddy's whole configuration. Requests in flight at that moment may fail: never
  // call this during a deploy.
  async load(config: unknown): Promise<void> {
    await this.request('POST', '/load', JSON.stringify(config));
  }

  // The current configuration (or the value at `path`, e.g. 'apps/http/servers'), exactly as
  // Caddy sends it.
  getConfigText(path = ''): Promise<string> {
    return this.request('GET', configPath(path));
  }

  async getConfig<T = unknown>(path = ''): Promise<T> {
    return this.parse<T>('GET', configPath(path), await this.getConfigText(path));
  }

  // PATCH replaces the value at an existing path; PUT creates it (or inserts into an array).
  async patch(path: string, value: unknown): Promise<void> {
    await this.request('PATCH', configPath(path), JSON.stringify(value));
  }

  async put(path: string, value: unknown): Promise<void> {
    await this.request('PUT', configPath(path), JSON.stringify(value));
  }

  async delete(path: string): Promise<void> {
    await this.request('DELETE', configPath(path));
  }

  // Caddy's view of every reverse-proxy upstream, including requests in flight to it.
  async upstreams(): Promise<UpstreamStatus[]> {
    const path = '/reverse_proxy/upstreams';
    return this.parse<UpstreamStatus[]>('GET', path, await this.request('GET', path));
  }

  request(method: string, path: string, body?: string): Promise<string> {
    return new Promise((resolve, reject) => {
      let settled = false;
      const fail = (why: string, status?: number) => {
        if (settled) return;
        settled = true;
        reject(new CaddyAdminError(`Caddy admin API at ${this.endpointText}: ${method} ${path} ${why}`, this.endpointText, method, path, status));
      };
      const headers: Record<string, string | number> = {};
      // Caddy checks the Host header against its listen address; for a unix socket it must be empty.
      if ('socketPath' in this.endpoint) headers.Host = '';
      if (body !== undefined) {
        headers['Content-Type'] = 'application/json';
        headers['Content-Length'] = Buffer.byteLength(body);
      }
      const target = 'socketPath' in this.endpoint ? { socketPath: this.endpoint.socketPath } : { host: this.endpoint.host, port: this.endpoint.port };
      const req = request({ ...target, method, path, headers, agent: false, setHost: !('socketPath' in this.endpoint) }, (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('error', (err) => fail(`failed while reading the answer: ${err.message}`));
        res.on('end', () => {
          const text = Buffer.concat(chunks).toString('utf8');
          const status = res.statusCode ?? 0;
          if (status < 200 || status >= 300) return fail(`answered HTTP ${status}: ${caddyErrorText(text)}`, status);
          settled = true;
          resolve(text);
        });
      });
      req.setTimeout(this.timeoutMs, () => req.destroy(new Error(`timed out after ${this.timeoutMs} ms`)));
      req.on('error', (err) => fail(`failed: ${err.message} (is Caddy running with its admin API there?)`));
      req.end(body);
    });
  }

  private parse<T>(method: string, path: string, text: string): T {
    try {
      return JSON.parse(text) as T;
    } catch {
      throw new CaddyAdminError(
        `Caddy admin API at ${this.endpointText}: ${method} ${path} answered something that is not JSON: ${text.slice(0, MAX_ERROR_BODY_CHARS)}`,
        this.endpointText,
        method,
        path,
      );
    }
  }
}

// Loads `config` only when Caddy runs something else, because every load resets requests in
// flight. True when it loaded. This is how the agent restores routes after Caddy or it restarts.
export async function loadIfChanged(admin: CaddyAdmin, config: unknown): Promise<boolean> {
  const current = await admin.getConfig();
  if (isDeepStrictEqual(current, JSON.parse(JSON.stringify(config)))) return false;
  await admin.load(config);
  return true;
}

function configPath(path: string): string {
  return `/config/${path.replace(/^\/+/, '')}`;
}

// Caddy answers errors as {"error": "..."}.
function caddyErrorText(text: string): string {
  try {
    const parsed = JSON.parse(text) as { error?: unknown };
    if (typeof parsed.error === 'string') return parsed.error.slice(0, MAX_ERROR_BODY_CHARS);
  } catch {
    // not JSON: show it as it is
  }
  return text.slice(0, MAX_ERROR_BODY_CHARS);
}
