// The agent's resident memory and CPU while it supervises APPS containers at rest on test host
// h10 (Lazarus watching them, a liveness probe on each, metrics every 10 s, events to the node's
// JetStream, a connected control plane), beside a bare `node` process started the same way and
// measured over the same window. Targets: agent under 60 MB and under 1% of a core.
import { readFileSync } from 'node:fs';
import { prepareAppHost } from '../test/support/app-host';
import { operator, readPid } from '../test/support/harness';
import { report } from './report';

const APPS = Number(process.env.BENCH_APPS ?? 20);
const WINDOW_MS = Number(process.env.BENCH_IDLE_MS ?? 60_000);
const CLOCK_TICKS = 100;

const statusField = (pid: number, field: string) => Number(new RegExp(`${field}:\\s+(\\d+)`).exec(readFileSync(`/proc/${pid}/status`, 'utf8'))![1]) * 1024;
const rssOf = (pid: number) => statusField(pid, 'VmRSS');
// RSS is the process's own memory (anonymous) plus the pages of files it maps, mostly the node
// executable's code, which every Node process on the host shares.
const splitOf = (pid: number) => `${mb(statusField(pid, 'RssAnon'))} own + ${mb(statusField(pid, 'RssFile'))} file-backed (the node binary's pages)`;
const mb = (b: number) => `${(b / 1024 / 1024).toFixed(1)} MB`;
// utime + stime, in seconds.
function cpuSecondsOf(pid: number): number {
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ');
  return (Number(fields[11]) + Number(fields[12])) / CLOCK_TICKS;
}

export async function benchAgentSupervising(): Promise<void> {
  const x = await prepareAppHost('h10');
  try {
    x.buildVersion('v1');
    for (let i = 0; i < APPS; i++) {
      const name = `rest-${i}`;
      await x.hx.cp.router.invoke(
        'apps.create',
        {
          spec: {
            name,
            node: 'h10',
            source: { kind: 'image', image: 'localhost/testapp:v1' },
            domains: [`${name}.test`],
            liveness: { kind: 'http', path: '/health' },
          },
        },
        operator,
      );
      await x.hx.cp.router.invoke('apps.deploy', { name }, operator);
    }
    const running = x.onHost(`podman ps -q --filter label=podploy.app | wc -l`).trim();
    const bare = Number(x.onHost(`setsid nohup node -e 'setInterval(() => {}, 1 << 30)' > /dev/null 2>&1 < /dev/null & echo $!`).trim());
    const agent = readPid(x.user, 'agent');
    const nats = Number(x.onHost(`cat ~/.local/share/podploy/agent/run/nats.pid 2>/dev/null || echo 0`).trim());
    // Let the deploys' garbage settle before the window starts.
    await new Promise((r) => setTimeout(r, 10_000));
    const cpu0 = { agent: cpuSecondsOf(agent), bare: cpuSecondsOf(bare) };
    const t0 = performance.now();
    await new Promise((r) => setTimeout(r, WINDOW_MS));
    const seconds = (performance.now() - t0) / 1000;
    const pct = (pid: number, before: number) => ((cpuSecondsOf(pid) - before) / seconds) * 100;
    const agentCpu = pct(agent, cpu0.agent);
    const bareCpu = pct(bare, cpu0.bare);
    const agentRss = rssOf(agent);
    const bareRss = rssOf(bare);
    const natsRss = nats > 0 ? rssOf(nats) : 0;
    const agentSplit = splitOf(agent);
    const bareSplit = splitOf(bare);
    process.kill(bare, 'SIGKILL');
    report(`agent at rest supervising ${running} containers on h10 over ${(WINDOW_MS / 1000).toFixed(0)} s (liveness probe every 10 s each, metrics every 10 s)`, {
      'agent RSS': `${mb(agentRss)} = ${agentSplit}`,
      'bare node RSS (baseline)': `${mb(bareRss)} = ${bareSplit}`,
      'ratio RSS agent / bare': (agentRss / bareRss).toFixed(2),
      'agent CPU': `${agentCpu.toFixed(2)} % of a core`,
      'bare node CPU (baseline)': `${bareCpu.toFixed(2)} % of a core`,
      'nats-server RSS (a separate process)': nats > 0 ? mb(natsRss) : 'not running',
      'target': 'agent < 60 MB and < 1% of a core',
      'verdict': agentRss < 60 * 1024 * 1024 && agentCpu < 1 ? 'met' : 'NOT met',
    });
  } finally {
    await x.close();
  }
}
