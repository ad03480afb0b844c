// A tiny client for Podman's REST API over its unix socket. No CLI parsing anywhere.
import { request } from 'node:http';

// Short: a handshake waits for the Podman version and must answer within the caller's deadline.
export const PODMAN_REQUEST_TIMEOUT_MS = 2_000;
export const LIBPOD_API_PREFIX = '/v4.0.0/libpod';
const MAX_ERROR_BODY_CHARS = 300;

export class PodmanError extends Error {
  constructor(
    message: string,
    readonly socketPath: string,
    readonly statusCode?: number,
  ) {
    super(message);
    this.name = 'PodmanError';
  }
}

export class PodmanClient {
  constructor(
    readonly socketPath: string,
    private readonly timeoutMs = PODMAN_REQUEST_TIMEOUT_MS,
  ) {}

  // GET a libpod path (e.g. '/version') and parse the JSON answer.
  getJson<T>(path: string): Promise<T> {
    const fullPath = `${LIBPOD_API_PREFIX}${path}`;
    return new Promise((resolve, reject) => {
      const fail = (why: string, status?: number) =>
        reject(new PodmanError(`Podman at ${this.socketPath}: GET ${fullPath} ${why}`, this.socketPath, status));
      const req = request({ socketPath: this.socketPath, path: fullPath, method: 'GET', headers: { Host: 'podman' } }, (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('error', (err) => fail(`failed while reading: ${err.message}`));
        res.on('end', () => {
          const body = Buffer.concat(chunks).toString('utf8');
          const status = res.statusCode ?? 0;
          if (status < 200 || status >= 300) return fail(`answered HTTP ${status}: ${body.slice(0, MAX_ERROR_BODY_CHARS)}`, status);
          try {
            resolve(JSON.parse(body) as T);
          } catch {
            fail(`answered something that is not JSON: ${body.slice(0, MAX_ERROR_BODY_CHARS)}`, status);
          }
        });
      });
      req.setTimeout(this.timeoutMs, () => req.destroy(new Error(`timed out after ${this.timeoutMs} ms`)));
      req.on('error', (err) => fail(`failed: ${err.message}`));
      req.end();
    });
  }
}
