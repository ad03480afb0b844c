// A tiny HTTP poller run inside a test host's network namespace (where the slot addresses and
// the node's loopback live), so PodPloy's container and Podman's own baseline are watched the
// same way. It prints "up <ms>" / "down <ms>" (Date.now) on every change of state.
import { spawn, type ChildProcess } from 'node:child_process';
import { createInterface } from 'node:readline';

const POLL_SCRIPT = `
const http = require('node:http');
const [url, every] = [process.argv[1], Number(process.argv[2])];
let up = null;
const say = (s) => { if (s !== up) { up = s; process.stdout.write((s ? 'up ' : 'down ') + Date.now() + '\\n'); } };
const tick = () => {
  const req = http.get(url, { agent: false, timeout: 250 }, (res) => { res.resume(); say(res.statusCode === 200); setTimeout(tick, every); });
  req.on('timeout', () => req.destroy(new Error('timeout')));
  req.on('error', () => { say(false); setTimeout(tick, every); });
};
tick();
`;

export interface Poller {
  // Resolves with the first "up" time at or after `after` (ms since the epoch).
  upAfter(after: number, timeoutMs?: number): Promise<number>;
  stop(): void;
}

export function startPoller(netns: string, url: string, everyMs = 2): Poller {
  const child: ChildProcess = spawn('nsenter', [`--net=/var/run/netns/${netns}`, process.execPath, '-e', POLL_SCRIPT, url, String(everyMs)], { stdio: ['ignore', 'pipe', 'inherit'] });
  const ups: number[] = [];
  const waiters: (() => void)[] = [];
  createInterface({ input: child.stdout! }).on('line', (line) => {
    const [state, at] = line.split(' ');
    if (state === 'up') ups.push(Number(at));
    for (const w of waiters.splice(0)) w();
  });
  return {
    upAfter(after, timeoutMs = 30_000) {
      return new Promise((resolve, reject) => {
        const deadline = setTimeout(() => reject(new Error(`${url} did not come up within ${timeoutMs} ms`)), timeoutMs);
        const check = () => {
          const hit = ups.find((t) => t >= after);
          if (hit !== undefined) {
            clearTimeout(deadline);
            resolve(hit);
          } else waiters.push(check);
        };
        check();
      });
    },
    stop: () => child.kill('SIGKILL'),
  };
}

export function percentile(xs: number[], p: number): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.max(0, Math.ceil((p / 100) * s.length) - 1))] ?? NaN;
}
