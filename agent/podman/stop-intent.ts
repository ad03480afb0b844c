// Whether someone on the node is stopping (or restarting) a container with the podman CLI right
// now. Podman 4.3 records a stop by a user in its database (StoppedByUser) but neither inspect
// nor the API shows it, and its `stop` event is lost when conmon's cleanup process syncs the
// container first. A `podman stop` process lives until the container has exited, so at the
// moment the exit file appears it is still there to be seen in /proc.
import { readdirSync, readFileSync } from 'node:fs';
import { basename, join } from 'node:path';

export type CliIntent = 'stop' | 'restart';

const MIN_ID_PREFIX = 3;
const INTENTS: Record<string, CliIntent> = { stop: 'stop', restart: 'restart' };
const OTHER_COMMANDS = new Set(['exec', 'run', 'pod', 'machine', 'system', 'network', 'volume', 'image', 'manifest', 'secret', 'kube', 'generate', 'healthcheck']);

// Full /proc rescans at most this often; in between only new pids are read (a process that
// later execs podman under an old pid is missed until the next rescan).
export const PROC_RESCAN_MS = 30_000;

// Finds `podman [container] stop|restart … <name|id prefix|--all>` processes naming a container.
// Reading every /proc/PID/cmdline takes milliseconds per hundred processes, so the pids that are
// not podman are remembered.
export class PodmanCliScanner {
  private notPodman = new Set<string>();
  private scannedAt = 0;

  constructor(
    private readonly procDir = '/proc',
    private readonly now: () => number = Date.now,
  ) {}

  intent(container: { id?: string; name: string }): CliIntent | undefined {
    let pids: string[];
    try {
      pids = readdirSync(this.procDir).filter((p) => /^\d+$/.test(p));
    } catch {
      return undefined;
    }
    if (this.now() - this.scannedAt > PROC_RESCAN_MS) {
      this.notPodman = new Set();
      this.scannedAt = this.now();
    }
    const alive = new Set(pids);
    for (const pid of this.notPodman) if (!alive.has(pid)) this.notPodman.delete(pid);
    let found: CliIntent | undefined;
    for (const pid of pids) {
      if (this.notPodman.has(pid)) continue;
      let argv: string[];
      try {
        argv = readFileSync(join(this.procDir, pid, 'cmdline'), 'utf8').split('\0').filter(Boolean);
      } catch {
        continue;
      }
      if (argv.length && basename(argv[0]) !== 'podman') {
        this.notPodman.add(pid);
        continue;
      }
      found ??= cliIntentOf(argv, container);
    }
    return found;
  }
}

// One-off scan (no memory of earlier scans).
export function podmanCliIntent(container: { id?: string; name: string }, procDir = '/proc'): CliIntent | undefined {
  return new PodmanCliScanner(procDir).intent(container);
}

// Pure: the intent of one argv towards the container.
export function cliIntentOf(argv: string[], container: { id?: string; name: string }): CliIntent | undefined {
  if (argv.length < 2 || basename(argv[0]) !== 'podman') return undefined;
  const words = argv.slice(1);
  const verbAt = words.findIndex((w) => w in INTENTS);
  // `podman [global options] [container] stop`, not `podman exec web stop` or `podman pod stop`.
  if (verbAt < 0 || words.slice(0, verbAt).some((w) => OTHER_COMMANDS.has(w))) return undefined;
  const rest = words.slice(verbAt + 1);
  const named = rest.some(
    (w) => w === container.name || w === '--all' || w === '-a' || (container.id !== undefined && w.length >= MIN_ID_PREFIX && /^[0-9a-f]+$/.test(w) && container.id.startsWith(w)),
  );
  return named ? INTENTS[words[verbAt]] : undefined;
}
