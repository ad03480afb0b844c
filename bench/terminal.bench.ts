// Terminals on test host h10. Keystroke round trip: one character sent at the API as the
// browser sends it (a WebSocket to `podploy serve`), to its echo arriving back there, through
// the control plane, the SSH tunnel, gRPC with mTLS, the agent, Podman's exec API and the
// container's terminal. Beside it, in the same run: a plain `ssh -tt` to the same host and user
// running the same `cat` in a PTY, one character written to its stdin to its echo on stdout.
// Then the throughput of a large output burst through each path. A second baseline runs the same
// through `podman exec -t` in the same container over that ssh: the container's TTY path alone
// (conmon and Podman relay a TTY exec's output in small pieces; it is far slower than a host PTY).
import { spawn } from 'node:child_process';
import { TERMINAL_FLOW } from '../proto/terminal-defaults';
import type { ApiClient, TerminalEvent } from '../src-main/api/contract';
import { connectApi } from '../src-main/cli/api-connection';
import { operator } from '../test/support/harness';
import { prepareAppHost, type AppHost } from '../test/support/app-host';
import { percentile } from './support/netns-poller';
import { report } from './report';

const KEYS = Number(process.env.BENCH_KEYS ?? 300);
const BURST_BYTES = Number(process.env.BENCH_BURST_BYTES ?? 16 * 1024 * 1024);
const APP = 'term-bench';
// The keystrokes cycle through letters; `cat` in canonical mode echoes each at once (no Enter:
// the line stays well under the terminal's 4 KiB line limit).
const KEY_CHARS = 'abcdefghijklmnopqrstuvwxyz';

interface Echoer {
  // Sends one character; resolves when it came back.
  key(ch: string): Promise<void>;
  close(): Promise<void>;
}

// Output arrives as text; wait() resolves once `ch` has been seen after the last wait.
class EchoWatch {
  private seen = '';
  private waiter: { ch: string; resolve: () => void } | null = null;

  feed(text: string): void {
    this.seen += text;
    this.check();
  }

  // Only output that arrives from now on counts: an earlier echo must not answer this key.
  wait(ch: string): Promise<void> {
    this.seen = '';
    return new Promise((resolve) => {
      this.waiter = { ch, resolve };
      this.check();
    });
  }

  private check(): void {
    if (!this.waiter) return;
    const at = this.seen.indexOf(this.waiter.ch);
    if (at < 0) return;
    this.seen = this.seen.slice(at + 1);
    const { resolve } = this.waiter;
    this.waiter = null;
    resolve();
  }
}

async function openPodploy(client: ApiClient, command: string[], onData: (s: string) => void) {
  let session = '';
  let unacked = 0;
  let opened!: () => void;
  const isOpen = new Promise<void>((resolve) => (opened = resolve));
  const call = client.stream('terminal.open', { target: { kind: 'app', app: APP }, command, tty: true, cols: 120, rows: 40 }, (e: TerminalEvent) => {
    if (e.kind === 'opened') {
      session = e.session;
      opened();
      return;
    }
    onData(e.data);
    unacked += e.data.length;
    if (unacked >= TERMINAL_FLOW.ackEveryChars) {
      void client.call('terminal.ack', { session, chars: unacked });
      unacked = 0;
    }
  });
  await Promise.race([isOpen, call.result.then((r) => Promise.reject(new Error(`the session ended before it opened: ${r.reason}`)))]);
  return { session, call };
}

async function podployEchoer(client: ApiClient): Promise<Echoer> {
  const watch = new EchoWatch();
  const t = await openPodploy(client, ['cat'], (s) => watch.feed(s));
  return {
    async key(ch) {
      const echoed = watch.wait(ch);
      await client.call('terminal.input', { session: t.session, data: ch });
      await echoed;
    },
    async close() {
      t.call.cancel();
      await t.call.result.catch(() => undefined);
    },
  };
}

function sshArgs(x: AppHost, command: string): string[] {
  return ['-tt', '-q', '-i', x.clientKey, '-p', String(x.host.port), '-o', 'StrictHostKeyChecking=no', '-o', 'UserKnownHostsFile=/dev/null', `${x.user}@${x.host.address}`, command];
}

async function sshEchoer(x: AppHost, command = 'cat'): Promise<Echoer> {
  const watch = new EchoWatch();
  const child = spawn('ssh', sshArgs(x, command), { stdio: ['pipe', 'pipe', 'ignore'] });
  child.stdout.setEncoding('utf8');
  child.stdout.on('data', (s: string) => watch.feed(s));
  // Wait until the remote cat echoes (the session is up).
  const ready = watch.wait('!');
  child.stdin.write('!');
  await ready;
  return {
    async key(ch) {
      const echoed = watch.wait(ch);
      child.stdin.write(ch);
      await echoed;
    },
    async close() {
      child.kill('SIGTERM');
    },
  };
}

async function roundTrips(e: Echoer): Promise<number[]> {
  const out: number[] = [];
  for (let i = 0; i < KEYS; i++) {
    const t0 = performance.now();
    await e.key(KEY_CHARS[i % KEY_CHARS.length]);
    out.push(performance.now() - t0);
  }
  return out;
}

async function podployBurst(client: ApiClient): Promise<{ bytes: number; ms: number }> {
  let bytes = 0;
  const t0 = performance.now();
  const t = await openPodploy(client, ['sh', '-c', `yes | head -c ${BURST_BYTES}`], (s) => (bytes += s.length));
  const result = await t.call.result;
  const ms = performance.now() - t0;
  if (result.exitCode !== 0) throw new Error(`the burst exited ${result.exitCode}: ${result.reason}`);
  return { bytes, ms };
}

async function sshBurst(x: AppHost, command = `yes | head -c ${BURST_BYTES}`): Promise<{ bytes: number; ms: number }> {
  let bytes = 0;
  const t0 = performance.now();
  await new Promise<void>((resolve, reject) => {
    const child = spawn('ssh', sshArgs(x, command), { stdio: ['ignore', 'pipe', 'ignore'] });
    child.stdout.on('data', (b: Buffer) => (bytes += b.length));
    child.on('error', reject);
    child.on('close', () => resolve());
  });
  return { bytes, ms: performance.now() - t0 };
}

export async function benchTerminal(): Promise<void> {
  const x = await prepareAppHost('h10');
  const api = await connectApi(x.hx.url, x.hx.token, 'browser');
  try {
    x.buildVersion('v1');
    await x.hx.cp.router.invoke('apps.create', { spec: { name: APP, node: 'h10', source: { kind: 'image', image: 'localhost/testapp:v1' }, domains: ['term-bench.test'] } }, operator);
    await x.hx.cp.router.invoke('apps.deploy', { name: APP }, operator);

    const container = (await x.hx.cp.router.invoke('apps.ps', { name: APP }, operator)).find((c) => c.serving)!.name;
    // Warm every path (first connections, page cache), then measure them back to back.
    const ours = await podployEchoer(api.client);
    const plain = await sshEchoer(x);
    const podmanExec = await sshEchoer(x, `podman exec -it ${container} cat`);
    for (let i = 0; i < 20; i++) for (const e of [ours, plain, podmanExec]) await e.key('w');
    const oursRtt = await roundTrips(ours);
    const sshRtt = await roundTrips(plain);
    const podmanRtt = await roundTrips(podmanExec);
    for (const e of [ours, plain, podmanExec]) await e.close();

    const burst = await podployBurst(api.client);
    const sshB = await sshBurst(x);
    const podmanB = await sshBurst(x, `podman exec -t ${container} sh -c 'yes | head -c ${BURST_BYTES}'`);
    const mibs = (b: { bytes: number; ms: number }) => b.bytes / 1024 / 1024 / (b.ms / 1000);

    const ms = (v: number) => `${v.toFixed(2)} ms`;
    const p = (xs: number[]) => `p50 ${ms(percentile(xs, 50))}  p99 ${ms(percentile(xs, 99))}  max ${ms(Math.max(...xs))}`;
    report(`Terminal on h10: ${KEYS} keystrokes into \`cat\` in a container TTY, against plain ssh -tt to the same host in the same run`, {
      'keystroke round trip PodPloy (API -> echo at the API)': p(oursRtt),
      'keystroke round trip plain ssh -tt (baseline)': p(sshRtt),
      'keystroke round trip ssh -tt + podman exec -it (baseline 2)': p(podmanRtt),
      'ratio p50 PodPloy / ssh': (percentile(oursRtt, 50) / percentile(sshRtt, 50)).toFixed(2),
      'ratio p99 PodPloy / ssh': (percentile(oursRtt, 99) / percentile(sshRtt, 99)).toFixed(2),
      'ratio p50 PodPloy / ssh + podman exec': (percentile(oursRtt, 50) / percentile(podmanRtt, 50)).toFixed(2),
      [`burst of ${(BURST_BYTES / 1024 / 1024).toFixed(0)} MiB PodPloy (recorded, flow-controlled)`]: `${mibs(burst).toFixed(1)} MiB/s (${(burst.ms / 1000).toFixed(2)} s, ${burst.bytes} chars)`,
      'burst plain ssh -tt (baseline)': `${mibs(sshB).toFixed(1)} MiB/s (${(sshB.ms / 1000).toFixed(2)} s)`,
      'burst ssh -tt + podman exec -t (baseline 2)': `${mibs(podmanB).toFixed(1)} MiB/s (${(podmanB.ms / 1000).toFixed(2)} s)`,
      'ratio burst PodPloy / ssh': (mibs(burst) / mibs(sshB)).toFixed(2),
      'ratio burst PodPloy / ssh + podman exec': (mibs(burst) / mibs(podmanB)).toFixed(2),
    });
  } finally {
    api.close();
    await x.close();
  }
}
