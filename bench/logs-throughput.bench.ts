// Reading a large log through PodPloy against reading it from Podman on the node, same run, on
// test host h5: an app prints LINES lines at start; then
// - baseline: Podman's REST log API read on the node itself (curl, timed there);
// - PodPloy: apps.logs through the control plane: agent -> gRPC over the SSH-forwarded port
//   -> router, every line delivered as progress;
// - the CLI: `podploy logs APP --json` over the WebSocket API, a separate process.
import { execFile } from 'node:child_process';
import { prepareAppHost } from '../test/support/app-host';
import { operator } from '../test/support/harness';
import { median, report } from './report';

const LINES = Number(process.env.BENCH_LOG_LINES ?? 300_000);
const REPEATS = Number(process.env.BENCH_REPEATS ?? 3);

export async function benchLogsThroughput(): Promise<void> {
  const x = await prepareAppHost('h5');
  try {
    await x.hx.cp.router.invoke(
      'apps.create',
      {
        spec: {
          name: 'flood',
          node: 'h5',
          source: { kind: 'image', image: 'localhost/podploy-test-app:latest' },
          domains: ['flood.test'],
          command: ['sh', '-c', `seq 1 ${LINES} | sed 's/^/flood line /'; exec /app/start`],
        },
      },
      operator,
    );
    await x.hx.cp.router.invoke('apps.deploy', { name: 'flood' }, operator);
    const container = x.onHost(`podman ps --filter label=podploy.app=flood --format '{{.Names}}'`).trim();
    const sock = `/home/${x.user}/.local/share/podploy/agent/run/podman.sock`;
    const baseline: number[] = [];
    const api: number[] = [];
    const cli: number[] = [];
    for (let i = 0; i < REPEATS; i++) {
      const script = `t0=$(date +%s%N); curl -s --unix-socket ${sock} "http://d/v4.0.0/libpod/containers/${container}/logs?stdout=true&stderr=true&timestamps=true" >/dev/null; echo $(( ($(date +%s%N) - t0) / 1000000 ))`;
      baseline.push(Number(x.onHost(`bash -c '${script}'`).trim()));

      let got = 0;
      const t1 = performance.now();
      await x.hx.cp.router.invoke('apps.logs', { name: 'flood' }, operator, (c) => (got += c.lines.length));
      api.push(performance.now() - t1);
      if (got < LINES) throw new Error(`apps.logs delivered ${got} of ${LINES} lines`);

      const t2 = performance.now();
      const out = await new Promise<string>((resolve, reject) =>
        execFile(process.execPath, ['bin/podploy.mjs', 'logs', 'flood', '--json'], { env: { ...process.env, PODPLOY_URL: x.hx.url, PODPLOY_TOKEN: x.hx.token }, maxBuffer: 1 << 30, encoding: 'utf8' }, (err, stdout) => (err ? reject(err) : resolve(stdout))),
      );
      cli.push(performance.now() - t2);
      if (out.split('\n').length - 1 < LINES) throw new Error('the CLI printed fewer lines than the app wrote');
    }
    const b = median(baseline);
    report(`log throughput (h5, ${LINES.toLocaleString('en')} lines, median of ${REPEATS})`, {
      'baseline: Podman REST log read on the node': `${b.toFixed(0)} ms`,
      'apps.logs (agent, gRPC over SSH, router)': `${median(api).toFixed(0)} ms (${Math.round(LINES / (median(api) / 1000)).toLocaleString('en')} lines/s)`,
      'podploy logs --json (CLI over WebSocket)': `${median(cli).toFixed(0)} ms`,
      'ratio apps.logs / baseline': (median(api) / b).toFixed(2),
      'ratio CLI / baseline': (median(cli) / b).toFixed(2),
    });
  } finally {
    await x.close();
  }
}
