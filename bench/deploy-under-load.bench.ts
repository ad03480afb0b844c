// Deploys under steady load through the node's Caddy, against the naive replacement in the same
// run, on test host h1:
// - PodPloy: DEPLOYS consecutive deploys alternating two versions (apps.deploy, the real path:
//   control plane -> signed command -> agent -> slots and gates), load on the app's domain.
// - Naive: the same number of `podman rm -f` old + `podman run` new behind one Caddy route on
//   the same node and Caddy, same load; once plain, once with PodPloy's retry settings.
// Prints failed requests and p99 latency for both, and deploy latency (deploy requested -> the
// first request answered by the new version) against a bare `podman run` + first successful
// request, run on the node itself (no SSH in the timing).
import { execFileSync } from 'node:child_process';
import type { Sample } from '../test/support/http-load';
import { startLoad } from '../test/support/http-load';
import { prepareAppHost, type AppHost } from '../test/support/app-host';
import { operator } from '../test/support/harness';
import { median, report } from './report';

const DEPLOYS = Number(process.env.BENCH_DEPLOYS ?? 10);
const RATE = Number(process.env.BENCH_RATE ?? 300);
const WORKERS = 8;
const APP_DOMAIN = 'bench.test';
const NAIVE_DOMAIN = 'naive.test';
const NAIVE_PORT = 18_090;
const BARE_PORT = 18_091;
const SETTLE_MS = 1_000;
// Load before the first deploy: the route's latency with nothing changing, for comparison.
const STEADY_MS = 5_000;

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function p99(samples: Sample[]): number {
  const d = samples.map((s) => s.end - s.start).sort((a, b) => a - b);
  return d[Math.min(d.length - 1, Math.floor(d.length * 0.99))] ?? 0;
}

function failures(samples: Sample[]): Sample[] {
  return samples.filter((s) => s.error !== undefined || s.status !== 200);
}

// The first request sent after t0 that the version answered: when that version was serving.
function servingAfter(samples: Sample[], t0: number, version: string): number | undefined {
  const hit = samples.filter((s) => s.start >= t0 && s.status === 200 && s.body.trim() === version).sort((a, b) => a.end - b.end)[0];
  return hit && hit.end - t0;
}

function caddyAdmin(x: AppHost, method: string, path: string, body?: unknown): string {
  const sock = `/home/${x.user}/.local/share/podploy/agent/run/caddy-admin.sock`;
  const args = ['-sS', '--fail-with-body', '--unix-socket', sock, '-H', 'Host;', '-X', method, `http://localhost${path}`];
  if (body !== undefined) args.push('-H', 'Content-Type: application/json', '-d', JSON.stringify(body));
  return execFileSync('curl', args, { encoding: 'utf8' });
}

async function podployDeploys(x: AppHost) {
  const load = startLoad({ host: x.host.address, port: 80, hostHeader: APP_DOMAIN, path: '/version', concurrency: WORKERS, ratePerSecond: RATE });
  const latencies: number[] = [];
  const bare: number[] = [];
  const steps: { at: number; what: string }[] = [];
  await sleep(STEADY_MS);
  const steady = [...load.samples];
  const t = performance.now();
  for (let i = 0; i < DEPLOYS; i++) {
    // The baseline runs beside each deploy, under the same load and noise.
    bare.push(await bareRun(x));
    const version = i % 2 === 0 ? 'v2' : 'v1';
    const t0 = performance.now();
    await x.hx.cp.router.invoke('apps.deploy', { name: 'bench', image: `localhost/testapp:${version}` }, operator, (p) => {
      if (process.env.BENCH_DEBUG) steps.push({ at: performance.now(), what: `${p.name} ${p.state}` });
    });
    await sleep(SETTLE_MS);
    const at = servingAfter(load.samples, t0, version);
    if (at === undefined) throw new Error(`deploy ${i + 1}: no request answered by ${version}`);
    latencies.push(at);
  }
  const samples = await load.stop();
  if (process.env.BENCH_DEBUG) {
    for (const s of samples.filter((x) => x.end - x.start > 300).slice(0, 40)) {
      const during = steps.filter((e) => e.at <= s.start).at(-1);
      console.log(`slow ${s.method} ${(s.end - s.start).toFixed(0)} ms, started during ${during?.what} (+${during ? (s.start - during.at).toFixed(0) : '?'} ms)`);
    }
  }
  return { samples: samples.slice(steady.length), steady, latencies, bare, seconds: (performance.now() - t) / 1000 };
}

async function naiveReplacements(x: AppHost, retries: boolean) {
  const run = (version: string) => `podman run -d -q --name naive -p 127.0.0.1:${NAIVE_PORT}:8080 localhost/testapp:${version} >/dev/null`;
  x.onHost(`podman rm -f -t 0 naive >/dev/null 2>&1; ${run('v1')}`);
  // Inserted first, so it wins over the agent's catch-all; the agent rewrites Caddy's config
  // only when apps change, which they do not during the bench.
  caddyAdmin(x, 'PUT', '/config/apps/http/servers/podploy/routes/0', {
    '@id': 'bench-naive',
    match: [{ host: [NAIVE_DOMAIN] }],
    handle: [{ handler: 'reverse_proxy', upstreams: [{ dial: `127.0.0.1:${NAIVE_PORT}` }], ...(retries ? { load_balancing: { try_duration: '5000ms', try_interval: '50ms' } } : {}) }],
    terminal: true,
  });
  await sleep(SETTLE_MS);
  const load = startLoad({ host: x.host.address, port: 80, hostHeader: NAIVE_DOMAIN, path: '/version', concurrency: WORKERS, ratePerSecond: RATE });
  const t = performance.now();
  for (let i = 0; i < DEPLOYS; i++) {
    await x.onHostAsync(`podman rm -f -t 0 naive >/dev/null && ${run(i % 2 === 0 ? 'v2' : 'v1')}`);
    await sleep(SETTLE_MS);
  }
  const samples = await load.stop();
  const seconds = (performance.now() - t) / 1000;
  caddyAdmin(x, 'DELETE', '/id/bench-naive');
  x.onHost('podman rm -f -t 0 naive >/dev/null');
  return { samples, seconds };
}

// podman run + polling until the app answers, timed on the node.
async function bareRun(x: AppHost): Promise<number> {
  const script = [
    'set -e',
    `podman rm -f -t 0 bare >/dev/null 2>&1 || true`,
    't0=$(date +%s%N)',
    `podman run -d -q --name bare -p 127.0.0.1:${BARE_PORT}:8080 localhost/testapp:v1 >/dev/null`,
    `until curl -sf -o /dev/null http://127.0.0.1:${BARE_PORT}/health; do sleep 0.01; done`,
    't1=$(date +%s%N)',
    `podman rm -f -t 0 bare >/dev/null`,
    'echo $(( (t1 - t0) / 1000000 ))',
  ].join('\n');
  return Number((await x.onHostAsync(`bash -c '${script.replace(/'/g, `'\\''`)}'`)).trim());
}

export async function benchDeployUnderLoad(): Promise<void> {
  const x = await prepareAppHost('h1');
  try {
    x.buildVersion('v1');
    x.buildVersion('v2');
    await x.hx.cp.router.invoke('apps.create', { spec: { name: 'bench', node: 'h1', source: { kind: 'image', image: 'localhost/testapp:v1' }, domains: [APP_DOMAIN], drainMs: 5_000, stopGraceMs: 2_000 } }, operator);
    await x.hx.cp.router.invoke('apps.deploy', { name: 'bench' }, operator);

    const ours = await podployDeploys(x);
    const naive = await naiveReplacements(x, false);
    const naiveRetry = await naiveReplacements(x, true);
    const bare = ours.bare;
    const oursFailed = failures(ours.samples);
    const naiveFailed = failures(naive.samples);
    const naiveRetryFailed = failures(naiveRetry.samples);
    report(`deploy under load (h1, ${RATE} req/s GET+POST through Caddy, ${DEPLOYS} deploys alternating v1/v2)`, {
      'PodPloy requests': ours.samples.length,
      'PodPloy failed requests': oursFailed.length,
      'PodPloy p99 latency': `${p99(ours.samples).toFixed(1)} ms`,
      'same route, no deploy (5 s): p99 latency': `${p99(ours.steady).toFixed(1)} ms (${ours.steady.filter((s) => s.end - s.start > 900).length} of ${ours.steady.length} over 900 ms: the test app's own tail, present with no deploy)`,
      'naive requests': naive.samples.length,
      'naive failed requests': naiveFailed.length,
      'naive p99 latency': `${p99(naive.samples).toFixed(1)} ms`,
      'naive failures, first kinds': [...new Set(naiveFailed.map((s) => `${s.method} ${s.error ?? `HTTP ${s.status}`}`))].slice(0, 4).join('; ') || '-',
      'naive + Caddy retries (try_duration 5 s) requests': naiveRetry.samples.length,
      'naive + Caddy retries failed requests': naiveRetryFailed.length,
      'naive + Caddy retries p99 latency': `${p99(naiveRetry.samples).toFixed(1)} ms`,
      'deploy latency: requested -> v2 serving (median)': `${median(ours.latencies).toFixed(0)} ms (min ${Math.min(...ours.latencies).toFixed(0)}, max ${Math.max(...ours.latencies).toFixed(0)})`,
      'baseline: bare podman run -> first 200, beside each deploy (median)': `${median(bare).toFixed(0)} ms (min ${Math.min(...bare)}, max ${Math.max(...bare)})`,
      'ratio deploy latency / bare podman run': (median(ours.latencies) / median(bare)).toFixed(2),
    });
    if (oursFailed.length) console.log(`  PodPloy failures: ${oursFailed.slice(0, 5).map((s) => `${s.method} ${s.error ?? s.status}`).join('; ')}`);
  } finally {
    await x.close();
  }
}
