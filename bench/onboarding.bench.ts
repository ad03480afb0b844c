// Onboarding time of a fresh test host, split by step, beside a baseline measured in the same
// run: one SSH connection that uploads the same agent bundle over SFTP and runs one command —
// the least any onboarding must do. Medians over REPEATS fresh onboardings.
import { readFileSync } from 'node:fs';
import type { OnboardStepId } from '../src-main/api/contract';
import { loadAgentBundle } from '../src-main/agents/agent-bundle';
import { SshSession } from '../src-main/ssh/ssh-session';
import { loadTestHosts } from '../test/hosts/hosts';
import { operator, sh, startHarness } from '../test/support/harness';
import { median, report } from './report';

const REPEATS = Number(process.env.BENCH_REPEATS ?? 3);

export async function benchOnboarding(): Promise<void> {
  const hosts = loadTestHosts();
  const h = hosts.hosts.find((x) => x.name === 'h2')!;
  const user = h.users.deploy;
  const auth = { kind: 'key' as const, privateKey: readFileSync(hosts.clientKey, 'utf8') };
  const address = `ssh://${user}@${h.address}:${h.port}`;
  const bundle = loadAgentBundle();
  const totals: number[] = [];
  const baselines: number[] = [];
  const perStep = new Map<OnboardStepId, number[]>();

  for (let i = 0; i < REPEATS; i++) {
    sh(`test/hosts/reset-user.sh ${user}`);
    const t0 = performance.now();
    const ssh = await SshSession.connect({ user, host: h.address, port: h.port }, auth, { verifyHostKey: () => true });
    await ssh.writeFile(`/tmp/pp-bench-${user}.cjs`, bundle.bytes, 0o600);
    await ssh.run(`rm -f /tmp/pp-bench-${user}.cjs`, 'cleanup');
    ssh.close();
    baselines.push(performance.now() - t0);

    const hx = await startHarness();
    const t1 = performance.now();
    const res = await hx.cp.router.invoke('nodes.add', { address, auth, acceptNewHostKey: true, install: false, name: 'bench' }, operator, (p) => {
      if (p.durationMs !== undefined && p.state !== 'running') {
        const list = perStep.get(p.step) ?? [];
        list.push(p.durationMs);
        perStep.set(p.step, list);
      }
    });
    totals.push(performance.now() - t1);
    if (res.node.status !== 'online' && res.node.lastSeenAt === null) throw new Error('bench node did not come online');
    await hx.cp.router.invoke('nodes.remove', { name: 'bench' }, operator);
    await hx.close();
  }
  sh(`test/hosts/reset-user.sh ${user}`);

  const steps: Record<string, string> = {};
  for (const [step, ms] of perStep) steps[step] = `${median(ms).toFixed(0)} ms`;
  report('onboarding (fresh test host, no installs)', {
    repeats: REPEATS,
    ...steps,
    'total (median)': `${median(totals).toFixed(0)} ms`,
    'baseline: ssh connect + sftp bundle + one command (median)': `${median(baselines).toFixed(0)} ms`,
    'ratio total / baseline': (median(totals) / median(baselines)).toFixed(2),
  });
}
