// The agent's idle resident memory after a minute, beside a bare `node` process started the same
// way (detached, as the same user, on the same host) and measured at the same moment.
// Targets: at most 2x the bare process, and under 60 MB.
import { readFileSync } from 'node:fs';
import { loadTestHosts } from '../test/hosts/hosts';
import { sshAs, operator, readPid, sh, startHarness } from '../test/support/harness';
import { report } from './report';

const IDLE_MS = Number(process.env.BENCH_IDLE_MS ?? 60_000);

const rssOf = (pid: number) => Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))![1]) * 1024;

export async function benchAgentMemory(): Promise<void> {
  const hosts = loadTestHosts();
  const h = hosts.hosts.find((x) => x.name === 'h2')!;
  const user = h.users.deploy;
  sh(`test/hosts/reset-user.sh ${user}`);
  const hx = await startHarness({ reportIntervalMs: 3_000 });
  try {
    await hx.cp.router.invoke(
      'nodes.add',
      { address: `ssh://${user}@${h.address}:${h.port}`, auth: { kind: 'key', privateKey: readFileSync(hosts.clientKey, 'utf8') }, acceptNewHostKey: true, name: 'mem' },
      operator,
    );
    // Started over SSH exactly as onboarding starts the agent's supervisor.
    const bare = Number(
      sshAs(user, h, hosts.clientKey, `setsid nohup node -e 'setInterval(() => {}, 1 << 30)' > /dev/null 2>&1 < /dev/null & echo $!`).trim(),
    );
    await new Promise((r) => setTimeout(r, IDLE_MS));
    const agentPid = readPid(user, 'agent');
    const agentRss = rssOf(agentPid);
    const bareRss = rssOf(bare);
    process.kill(bare, 'SIGKILL');
    const mb = (b: number) => `${(b / 1024 / 1024).toFixed(1)} MB`;
    report(`agent idle memory after ${IDLE_MS / 1000} s (reporting usage every 3 s to a connected control plane)`, {
      'agent RSS': mb(agentRss),
      'bare node RSS (baseline)': mb(bareRss),
      'ratio agent / bare': (agentRss / bareRss).toFixed(2),
      'target': 'ratio <= 2.00 and agent < 60 MB',
      'verdict': agentRss / bareRss <= 2 && agentRss < 60 * 1024 * 1024 ? 'met' : 'NOT met',
    });
    await hx.cp.router.invoke('nodes.remove', { name: 'mem' }, operator);
  } finally {
    await hx.close();
    sh(`test/hosts/reset-user.sh ${user}`);
  }
}
