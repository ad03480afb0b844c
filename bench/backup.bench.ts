// Backups on test host h10: a volume of BENCH_BACKUP_MIB (default 1024) MiB of random bytes,
// backed up by PodPloy to a local destination on the node's disk (tar stream from a helper
// container, sealed in XChaCha20-Poly1305 chunks, written atomically), against a plain `tar` of
// the same volume's folder to the same disk, in the same run.
// Target: PodPloy at >= 70% of the plain rate. The agent's peak memory during the run is sampled
// for a small volume and the large one: it must not grow with the volume's size.
import { readFileSync } from 'node:fs';
import { operator, readPid } from '../test/support/harness';
import { prepareAppHost, type AppHost } from '../test/support/app-host';
import { report } from './report';

const MIB = 1024 * 1024;
const BIG_MIB = Number(process.env.BENCH_BACKUP_MIB ?? 1024);
const SMALL_MIB = 128;
const APP = 'backup-bench';
const NODE = 'h10';

function rssOf(pid: number): number {
  const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m ? Number(m[1]) * 1024 : 0;
}

function containerOf(x: AppHost): string {
  return x.onHost(`podman ps --filter label=podploy.app=${APP} --format '{{.Names}}'`).trim().split('\n')[0];
}

// Fills the volume with `mib` MiB of random bytes in 64 MiB files.
function fill(x: AppHost, mib: number): void {
  x.onHost(`podman exec ${containerOf(x)} sh -c 'rm -rf /data/* && i=0; while [ $i -lt ${Math.ceil(mib / 64)} ]; do head -c ${64 * MIB} /dev/urandom > /data/f$i; i=$((i+1)); done; sync'`);
}

// A PodPloy run of the policy, with the agent's RSS sampled every 50 ms.
async function podployRun(x: AppHost, policy: string): Promise<{ seconds: number; onNode: number; bytes: number; peakRssGrowth: number; sealedBytes: number }> {
  const agent = readPid(x.user, 'agent');
  const before = rssOf(agent);
  let peak = before;
  const sampler = setInterval(() => (peak = Math.max(peak, rssOf(agent))), 50);
  const t0 = performance.now();
  const run = await x.hx.cp.router.invoke('backups.run', { policy }, operator);
  const seconds = (performance.now() - t0) / 1000;
  clearInterval(sampler);
  if (run.status !== 'ok') throw new Error(`the benchmark run failed: ${run.error}`);
  const onNode = ((run.finishedAt ?? 0) - run.startedAt) / 1000;
  return { seconds, onNode, bytes: run.plainBytes, sealedBytes: run.sealedBytes, peakRssGrowth: peak - before };
}

// The baseline: GNU tar of the volume's folder on the host, as the node's user, to a file on the
// same disk (no container, no encryption); `viaContainer` does the same through a helper
// container's tar as PodPloy's source does, for reference.
async function plainTar(x: AppHost, viaContainer = false): Promise<{ seconds: number; bytes: number }> {
  const tar = viaContainer
    ? 'podman run --rm --network none -v bench-data:/data:ro localhost/podploy-test-app:latest tar -c -C /data .'
    : 'tar -c -C "$(podman volume inspect --format {{.Mountpoint}} bench-data)" .';
  const out = await x.onHostAsync(`f=$HOME/plain-bench.tar; rm -f $f; s=$(date +%s%N); ${tar} > $f && sync $f; e=$(date +%s%N); echo $(( (e-s)/1000000 )) $(stat -c %s $f); rm -f $f`);
  const [ms, bytes] = out.trim().split(/\s+/).map(Number);
  return { seconds: ms / 1000, bytes };
}

export async function benchBackup(): Promise<void> {
  const x = await prepareAppHost(NODE);
  try {
    x.buildVersion('v1');
    await x.hx.cp.router.invoke(
      'apps.create',
      { spec: { name: APP, node: NODE, source: { kind: 'image', image: 'localhost/testapp:v1' }, domains: ['backup-bench.test'], volumes: [{ name: 'bench-data', path: '/data' }] } },
      operator,
    );
    await x.hx.cp.router.invoke('apps.deploy', { name: APP }, operator);
    await x.hx.cp.router.invoke('backups.destinations.set', { kind: 'local', name: 'bench-disk', path: `/home/${x.user}/bench-backups` }, operator);
    await x.hx.cp.router.invoke(
      'backups.policies.set',
      { name: 'bench', app: APP, source: { kind: 'volume', volume: 'bench-data' }, destinations: ['bench-disk'], retention: { last: 1, daily: 0, weekly: 0, monthly: 0 }, retryAttempts: 0 },
      operator,
    );

    fill(x, SMALL_MIB);
    const small = await podployRun(x, 'bench');
    fill(x, BIG_MIB);
    // Warm the page cache for both sides alike, then alternate.
    await plainTar(x);
    const ours = await podployRun(x, 'bench');
    const plain = await plainTar(x);
    const ours2 = await podployRun(x, 'bench');
    const plain2 = await plainTar(x);
    const container = await plainTar(x, true);

    const rate = (r: { seconds: number; bytes: number }) => r.bytes / MIB / r.seconds;
    const oursRate = Math.max(rate(ours), rate(ours2));
    const plainRate = Math.max(rate(plain), rate(plain2));
    const ratio = oursRate / plainRate;
    const mb = (b: number) => `${(b / MIB).toFixed(1)} MiB`;
    report(`Backup of a ${BIG_MIB} MiB volume on ${NODE} to a local destination, encrypted, against plain tar to the same disk in the same run`, {
      'PodPloy (tar -> XChaCha20-Poly1305 chunks -> atomic file)': `${rate(ours).toFixed(0)} / ${rate(ours2).toFixed(0)} MiB/s (${ours.seconds.toFixed(1)} s, ${ours2.seconds.toFixed(1)} s; sealed ${mb(ours.sealedBytes)})`,
      'PodPloy run as the node timed it (start -> manifest written)': `${ours.onNode.toFixed(1)} s, ${ours2.onNode.toFixed(1)} s`,
      'plain tar of the volume folder on the host (baseline)': `${rate(plain).toFixed(0)} / ${rate(plain2).toFixed(0)} MiB/s (${plain.seconds.toFixed(1)} s, ${plain2.seconds.toFixed(1)} s)`,
      'plain tar through a helper container (reference)': `${rate(container).toFixed(0)} MiB/s (${container.seconds.toFixed(1)} s)`,
      'ratio best PodPloy / best plain': ratio.toFixed(2),
      [`agent peak RSS growth, ${SMALL_MIB} MiB volume`]: mb(small.peakRssGrowth),
      [`agent peak RSS growth, ${BIG_MIB} MiB volume`]: mb(Math.max(ours.peakRssGrowth, ours2.peakRssGrowth)),
      target: '>= 0.70 of the plain rate; memory independent of the volume size',
      verdict: ratio >= 0.7 ? 'met' : 'NOT met',
    });
  } finally {
    await x.close();
  }
}
