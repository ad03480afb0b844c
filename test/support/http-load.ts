// Paced keep-alive HTTP load for zero-downtime tests, GET and POST alternating: Caddy retries a
// GET whose upstream vanished but never a POST, so the POSTs expose every request that was cut.
// Bounded by the caller's stop(); traffic goes only where the caller points it (loopback or a
// test host's address).
import { Agent, request } from 'node:http';

export interface Sample {
  start: number;
  end: number;
  method: string;
  status: number;
  body: string;
  error?: string;
}

export interface LoadOptions {
  host: string;
  port: number;
  hostHeader: string;
  path: string;
  concurrency: number;
  ratePerSecond: number;
  timeoutMs?: number;
  // A POST body; an empty POST when absent.
  postBody?: string;
}

export interface Load {
  samples: Sample[];
  stop(): Promise<Sample[]>;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export function startLoad(o: LoadOptions): Load {
  const agent = new Agent({ keepAlive: true, maxSockets: o.concurrency });
  const samples: Sample[] = [];
  const periodMs = (1000 * o.concurrency) / o.ratePerSecond;
  let running = true;
  const one = (method: string): Promise<Sample> =>
    new Promise((resolve) => {
      const start = performance.now();
      const done = (status: number, body: string, error?: string) => resolve({ start, end: performance.now(), method, status, body, ...(error ? { error } : {}) });
      const body = method === 'POST' ? (o.postBody ?? '') : undefined;
      const headers: Record<string, string | number> = { Host: o.hostHeader };
      if (body !== undefined) Object.assign(headers, { 'Content-Length': Buffer.byteLength(body) }, o.postBody ? { 'Content-Type': 'application/json' } : {});
      const req = request({ host: o.host, port: o.port, path: o.path, method, headers, agent }, (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => done(res.statusCode ?? 0, Buffer.concat(chunks).toString('utf8')));
        res.on('error', (err) => done(res.statusCode ?? 0, '', err.message));
      });
      req.setTimeout(o.timeoutMs ?? 10_000, () => req.destroy(new Error('timed out')));
      req.on('error', (err) => done(0, '', (err as NodeJS.ErrnoException).code ?? err.message));
      req.end(body);
    });
  const worker = async (w: number) => {
    let next = performance.now() + (w * periodMs) / o.concurrency;
    for (let i = 0; running; i++) {
      const wait = next - performance.now();
      if (wait > 0) await sleep(wait);
      if (!running) break;
      samples.push(await one((w + i) % 2 === 0 ? 'GET' : 'POST'));
      next = Math.max(next + periodMs, performance.now());
    }
  };
  const workers = Array.from({ length: o.concurrency }, (_, w) => worker(w));
  return {
    samples,
    async stop() {
      running = false;
      await Promise.all(workers);
      agent.destroy();
      return samples;
    },
  };
}

export function latencyPercentile(samples: Sample[], p: number): number {
  const lat = samples.map((s) => s.end - s.start).sort((a, b) => a - b);
  return lat[Math.min(lat.length - 1, Math.floor((p / 100) * lat.length))] ?? 0;
}
