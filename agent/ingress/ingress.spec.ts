// Zero-downtime ingress with a real Caddy: traffic moves between an app's two stable slots by
// flipping slot gates while Caddy's configuration stays byte-identical, and no request fails.
// The negative control replaces an upstream naively behind the same Caddy and does lose
// requests, so this test can fail. Traffic goes only to 127.x addresses.
import { createServer, type Server } from 'node:http';
import { performance } from 'node:perf_hooks';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildCaddyConfig, type AppRoute } from './caddy-config';
import { freePort, startTestCaddy, type TestCaddy } from './caddy-test-process';
import { SlotGate } from './slot-gate';
import { moveTraffic, type MoveTrafficResult } from './slot-swap';
import { appSlots, dialAddress, otherSlot, type AppSlots, type SlotAddress, type SlotName } from './slots';
import { startLoad as startHttpLoad, type Sample } from '../../test/support/http-load';

// App indexes far from 127.0.1.1 (Debian's /etc/hosts name for the machine).
const GATED_APP_INDEX = 120;
const NAIVE_APP_INDEX = 121;
const GATED_HOST = 'gated.test';
const NAIVE_HOST = 'naive.test';
const LOAD_RATE_PER_S = 400;
const LOAD_CONCURRENCY = 16;
const REQUEST_TIMEOUT_MS = 10_000;
// Each request takes this long in the upstream, so some are always in flight when one goes away.
const UPSTREAM_WORK_MS = 10;
const SWAPS = 6;
const STEADY_MS = 300;
const NAIVE_REPLACEMENTS = 4;
// A container takes about this long to start (ENVIRONMENT.md measured ~250 ms for podman run).
const NAIVE_START_GAP_MS = 250;
const MIN_SAMPLES_PER_WINDOW = 10;

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

// A stand-in for an app container: answers with its version after a little work.
class Upstream {
  inFlight = 0;
  private constructor(
    readonly version: string,
    private readonly server: Server,
  ) {}

  static async start(addr: SlotAddress, version: string): Promise<Upstream> {
    const server = createServer();
    const up = new Upstream(version, server);
    server.on('request', (req, res) => {
      up.inFlight++;
      res.on('close', () => up.inFlight--);
      req.resume();
      req.on('end', () => setTimeout(() => res.end(version), UPSTREAM_WORK_MS));
    });
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(addr.port, addr.ip, () => resolve());
    });
    return up;
  }

  // Abrupt, like a killed container: every connection is cut, in flight or idle.
  kill(): number {
    const cut = this.inFlight;
    this.server.close();
    this.server.closeAllConnections();
    return cut;
  }
}


const failed = (s: Sample) => s.error !== undefined || s.status !== 200 || !/^v\d+$/.test(s.body);

function startLoad(httpPort: number, host: string): { stop(): Promise<Sample[]> } {
  return startHttpLoad({ host: '127.0.0.1', port: httpPort, hostHeader: host, path: '/work', concurrency: LOAD_CONCURRENCY, ratePerSecond: LOAD_RATE_PER_S, timeoutMs: REQUEST_TIMEOUT_MS, postBody: '{"order":1}' });
}

function report(label: string, samples: Sample[], seconds: number) {
  const lat = samples.map((s) => s.end - s.start).sort((a, b) => a - b);
  const pct = (p: number) => lat[Math.min(lat.length - 1, Math.floor((p / 100) * lat.length))]?.toFixed(1);
  const bad = samples.filter(failed);
  const kinds = [...new Set(bad.map((s) => `${s.method} ${s.error ?? s.status}`))].join(', ');
  const line =
    `[ingress] ${label}: ${samples.length} requests in ${seconds.toFixed(1)} s (${(samples.length / seconds).toFixed(0)}/s), ` +
    `${bad.length} failed${kinds ? ` (${kinds})` : ''}, p50 ${pct(50)} ms, p99 ${pct(99)} ms, max ${lat[lat.length - 1]?.toFixed(1)} ms`;
  console.log(line);
  return bad;
}

let caddy: TestCaddy;
let httpPort: number;
let gatePort: number;
let gated: AppSlots;
let naive: AppSlots;
const gates: Record<string, SlotGate> = {};
const live: Upstream[] = [];

beforeAll(async () => {
  caddy = await startTestCaddy();
  httpPort = await freePort();
  gatePort = await freePort();
  const appPort = await freePort();
  gated = appSlots(GATED_APP_INDEX, appPort);
  naive = appSlots(NAIVE_APP_INDEX, appPort);
  const routes: AppRoute[] = [
    { app: 'gated', domains: [GATED_HOST], slots: gated, gatePort },
    { app: 'naive', domains: [NAIVE_HOST], slots: naive, gatePort },
  ];
  // The agent's gates on every slot IP: v1 starts in slot A of each app.
  for (const [app, slots] of [['gated', gated], ['naive', naive]] as const) {
    for (const s of ['a', 'b'] as const) gates[`${app}.${s}`] = await SlotGate.start({ ip: slots[s].ip, port: gatePort, open: s === 'a' });
  }
  await caddy.admin.load(buildCaddyConfig({ adminListen: caddy.adminListen, listen: [`127.0.0.1:${httpPort}`], routes }));
  await Promise.all(Object.values(gates).map((g) => g.confirm()));
});

afterAll(async () => {
  for (const up of live) up.kill();
  await Promise.all(Object.values(gates).map((g) => g.stop()));
  await caddy?.stop();
});

describe('ingress through a real Caddy', () => {
  it(`moves traffic between slots ${SWAPS} times under load with zero failed requests and an unchanged Caddy config`, async () => {
    let current = await Upstream.start(gated.a, 'v1');
    live.push(current);
    let slot: SlotName = 'a';
    const configBefore = await caddy.admin.getConfigText();

    const t0 = performance.now();
    const load = startLoad(httpPort, GATED_HOST);
    await sleep(STEADY_MS);
    const swaps: Array<{ version: string; start: number; done: number; cutInFlight: number } & MoveTrafficResult> = [];
    for (let i = 1; i <= SWAPS; i++) {
      const idle = otherSlot(slot);
      const version = `v${i + 1}`;
      const start = performance.now();
      const next = await Upstream.start(gated[idle], version);
      live.push(next);
      const result = await moveTraffic({
        admin: caddy.admin,
        from: { gate: gates[`gated.${slot}`], dial: dialAddress(gated[slot]) },
        to: { gate: gates[`gated.${idle}`], dial: dialAddress(gated[idle]) },
      });
      const cutInFlight = current.kill();
      swaps.push({ version, start, done: performance.now(), cutInFlight, ...result });
      current = next;
      slot = idle;
      await sleep(STEADY_MS);
    }
    const samples = await load.stop();
    const seconds = (performance.now() - t0) / 1000;
    const configAfter = await caddy.admin.getConfigText();

    const bad = report(`gated swaps (${SWAPS})`, samples, seconds);
    for (const s of swaps) {
      console.log(
        `[ingress]   -> ${s.version}: open ${s.openMs} ms, close ${s.closeMs} ms, drain ${s.drainMs} ms (drained ${s.drained}), ` +
          `in flight when the old upstream was cut: ${s.cutInFlight}`,
      );
    }
    expect(bad.slice(0, 5)).toEqual([]);
    expect(configAfter).toBe(configBefore);
    for (const s of swaps) {
      expect(s.drained).toBe(true);
      expect(s.cutInFlight).toBe(0);
    }
    // Before the first swap only v1 answers; after each swap only the new version does.
    const windows = [{ version: 'v1', from: 0, to: swaps[0].start }, ...swaps.map((s, i) => ({ version: s.version, from: s.done, to: swaps[i + 1]?.start ?? Infinity }))];
    for (const w of windows) {
      const inWindow = samples.filter((s) => s.start > w.from && s.start < w.to);
      expect(inWindow.length, `requests served while ${w.version} was live`).toBeGreaterThanOrEqual(MIN_SAMPLES_PER_WINDOW);
      expect(new Set(inWindow.map((s) => s.body)), `versions answering while ${w.version} was live`).toEqual(new Set([w.version]));
    }
  });

  it('loses requests when the upstream is replaced naively behind the same Caddy (negative control)', async () => {
    // No gate flips: the slot stays "in service" while its upstream is killed and restarted.
    let current = await Upstream.start(naive.a, 'v1');
    live.push(current);
    const t0 = performance.now();
    const load = startLoad(httpPort, NAIVE_HOST);
    await sleep(STEADY_MS);
    for (let i = 1; i <= NAIVE_REPLACEMENTS; i++) {
      current.kill();
      await sleep(NAIVE_START_GAP_MS);
      current = await Upstream.start(naive.a, `v${i + 1}`);
      live.push(current);
      await sleep(STEADY_MS);
    }
    const samples = await load.stop();
    const bad = report(`naive replacements (${NAIVE_REPLACEMENTS})`, samples, (performance.now() - t0) / 1000);
    expect(bad.length).toBeGreaterThan(0);
    expect(samples.at(-1)?.body).toBe(`v${NAIVE_REPLACEMENTS + 1}`);
  });
});
