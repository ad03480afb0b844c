// Lazarus on test host h10: KILLS SIGKILLs of a live container's process (root sends them, the
// test hosts share this machine's pid space). For each kill: kill -> the agent's container.died
// event (detection), kill -> restart.scheduled (the restart being started), and kill -> the app
// answering again on its slot address (recovery). Beside it, in the same run and the same
// network namespace, the same image under `podman run --restart=always` alone: kill -> answering
// again. Targets: p99 detection < 10 ms; median recovery no slower than Podman's own policy.
import { operator, waitFor } from '../test/support/harness';
import { prepareAppHost, type AppHost } from '../test/support/app-host';
import { percentile, startPoller } from './support/netns-poller';
import { report } from './report';

const KILLS = Number(process.env.BENCH_KILLS ?? 50);
const APP = 'lazarus-bench';
const BASELINE = 'podman-restart-always';
const BASELINE_PORT = 18_095;
// Longer than the policy's resetAfterMs: each kill is a first crash (restarted at once).
const BETWEEN_KILLS_MS = 1_300;

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function pidOf(x: AppHost, container: string): number {
  const pid = Number(x.onHost(`podman inspect --format '{{.State.Pid}}' ${container}`).trim());
  if (!(pid > 0)) throw new Error(`${container} has no running process`);
  return pid;
}

async function eventAt(x: AppHost, kind: string, after: number): Promise<{ atMs: number; data: Record<string, unknown> | null }> {
  return waitFor(`${kind} after ${after}`, async () => {
    const events = await x.hx.cp.router.invoke('events.list', { app: APP, kinds: [kind], limit: 5 }, operator);
    return events.filter((e) => e.atMs >= after).sort((a, b) => a.atMs - b.atMs)[0];
  }, 30_000, 20);
}

async function podployKills(x: AppHost) {
  const live = (await x.hx.cp.router.invoke('apps.ps', { name: APP }, operator)).find((c) => c.serving)!;
  const port = x.onHost(`podman port ${live.name} 8080/tcp`).trim().split('\n')[0];
  const poller = startPoller(x.host.netns, `http://${port}/health`);
  const detect: number[] = [];
  const started: number[] = [];
  const recover: number[] = [];
  try {
    await poller.upAfter(0);
    for (let i = 0; i < KILLS; i++) {
      const pid = pidOf(x, live.name);
      await sleep(BETWEEN_KILLS_MS);
      const t0 = Date.now();
      process.kill(pid, 'SIGKILL');
      const up = await poller.upAfter(t0);
      const died = await eventAt(x, 'container.died', t0);
      const scheduled = await eventAt(x, 'restart.scheduled', t0);
      if (scheduled.data?.delayMs !== 0) throw new Error(`kill ${i + 1}: restart was scheduled after ${String(scheduled.data?.delayMs)} ms, not at once`);
      detect.push(died.atMs - t0);
      started.push(scheduled.atMs - t0);
      recover.push(up - t0);
    }
  } finally {
    poller.stop();
  }
  return { detect, started, recover };
}

async function baselineKills(x: AppHost) {
  x.onHost(`podman rm -f ${BASELINE} >/dev/null 2>&1; podman run -d --name ${BASELINE} --restart=always -p 127.0.0.1:${BASELINE_PORT}:8080 localhost/testapp:v1 >/dev/null`);
  const poller = startPoller(x.host.netns, `http://127.0.0.1:${BASELINE_PORT}/health`);
  const recover: number[] = [];
  try {
    await poller.upAfter(0);
    for (let i = 0; i < KILLS; i++) {
      const pid = pidOf(x, BASELINE);
      await sleep(BETWEEN_KILLS_MS);
      const t0 = Date.now();
      process.kill(pid, 'SIGKILL');
      recover.push((await poller.upAfter(t0)) - t0);
    }
  } finally {
    poller.stop();
    x.onHost(`podman rm -f ${BASELINE} >/dev/null 2>&1 || true`);
  }
  return { recover };
}

export async function benchLazarusDetection(): Promise<void> {
  const x = await prepareAppHost('h10');
  try {
    x.buildVersion('v1');
    await x.hx.cp.router.invoke(
      'apps.create',
      {
        spec: {
          name: APP,
          node: 'h10',
          source: { kind: 'image', image: 'localhost/testapp:v1' },
          domains: ['lazarus-bench.test'],
          restart: { resetAfterMs: 1_000, crashLoopRestarts: 1_000, crashLoopWindowMs: 1_000 },
        },
      },
      operator,
    );
    await x.hx.cp.router.invoke('apps.deploy', { name: APP }, operator);
    // Interleaving would let one side's restarts disturb the other's; they run back to back.
    const ours = await podployKills(x);
    const podman = await baselineKills(x);
    const ms = (v: number) => `${v.toFixed(0)} ms`;
    const p = (xs: number[]) => `p50 ${ms(percentile(xs, 50))}  p99 ${ms(percentile(xs, 99))}  max ${ms(Math.max(...xs))}`;
    const ratio = percentile(ours.recover, 50) / percentile(podman.recover, 50);
    report(`Lazarus: ${KILLS} SIGKILLs of a live container on h10, against podman run --restart=always in the same run`, {
      'detection (kill -> container.died)': p(ours.detect),
      'restart started (kill -> restart.scheduled)': p(ours.started),
      'recovery PodPloy (kill -> answering again)': p(ours.recover),
      'recovery podman --restart=always (baseline)': p(podman.recover),
      'ratio recovery p50 PodPloy / Podman': ratio.toFixed(2),
      'target': 'detection p99 < 10 ms; recovery ratio <= 1.00',
      'verdict': percentile(ours.detect, 99) < 10 && ratio <= 1 ? 'met' : 'NOT met',
    });
  } finally {
    await x.close();
  }
}
