// Ending a terminal session for real: every process of the terminal's kernel session (a shell's
// background jobs, a `nohup` child...) gets SIGHUP, and SIGKILL after TERMINAL_KILL_GRACE_MS.
// Read from /proc: no native module, no CLI.
import { readdir, readFile } from 'node:fs/promises';
import { TERMINAL_KILL_GRACE_MS } from '../../proto/terminal-defaults';

const KILL_POLL_MS = 50;

// A session leader as it was when the session opened: pid and start time (clock ticks since
// boot, /proc/PID/stat field 22) together, so a pid reused since is never taken for it.
export interface SessionLeader {
  pid: number;
  startTime: number;
}

export interface ProcStat {
  pid: number;
  ppid: number;
  sid: number;
  state: string;
  startTime: number;
}

export async function readProcStat(pid: number): Promise<ProcStat | undefined> {
  try {
    return parseProcStat(await readFile(`/proc/${pid}/stat`, 'utf8'));
  } catch {
    return undefined;
  }
}

// The command name (field 2) may hold spaces and parentheses: fields count from the last ')'.
export function parseProcStat(text: string): ProcStat {
  const close = text.lastIndexOf(')');
  const pid = Number(text.slice(0, text.indexOf(' ')));
  const f = text.slice(close + 2).split(' ');
  // f[0] is field 3 (state): field N is f[N - 3].
  return { pid, state: f[0], ppid: Number(f[1]), sid: Number(f[3]), startTime: Number(f[19]) };
}

export async function allProcesses(): Promise<ProcStat[]> {
  const names = await readdir('/proc');
  const stats = await Promise.all(names.filter((n) => /^\d+$/.test(n)).map((n) => readProcStat(Number(n))));
  return stats.filter((s): s is ProcStat => s !== undefined && s.state !== 'Z' && s.state !== 'X');
}

// The live processes of the leader's session. Empty when the leader's pid now belongs to another
// session leader (a reused pid); members started before the leader cannot be of its session.
export async function sessionMembers(leader: SessionLeader): Promise<ProcStat[]> {
  const all = await allProcesses();
  const holder = all.find((p) => p.pid === leader.pid);
  if (holder && holder.startTime !== leader.startTime && holder.sid === holder.pid) return [];
  return all.filter((p) => p.sid === leader.pid && p.startTime >= leader.startTime);
}

export async function leaderOf(pid: number): Promise<SessionLeader | undefined> {
  const stat = await readProcStat(pid);
  return stat ? { pid, startTime: stat.startTime } : undefined;
}

export interface EndSessionOptions {
  graceMs?: number;
  // Processes the agent may not signal (EPERM, e.g. a container's non-root user under rootless
  // Podman): killed by other means (an exec `kill -9` in their container).
  forbidden?: (pids: number[]) => Promise<void>;
}

export interface EndedSession {
  hungUp: number;
  killed: number;
  forbidden: number;
  // Still there after everything (should be 0).
  left: number;
}

// SIGHUP to every process of each leader's session, SIGKILL to what is left after the grace.
export async function endSessions(leaders: SessionLeader[], options: EndSessionOptions = {}): Promise<EndedSession> {
  const graceMs = options.graceMs ?? TERMINAL_KILL_GRACE_MS;
  const members = async () => (await Promise.all(leaders.map(sessionMembers))).flat();
  const forbidden = new Set<number>();
  const signal = (procs: ProcStat[], sig: NodeJS.Signals) => {
    for (const p of procs) {
      try {
        process.kill(p.pid, sig);
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code === 'EPERM') forbidden.add(p.pid);
      }
    }
  };
  const first = await members();
  if (first.length === 0) return { hungUp: 0, killed: 0, forbidden: 0, left: 0 };
  signal(first, 'SIGHUP');
  const until = Date.now() + graceMs;
  let rest = first;
  while (rest.length > 0 && Date.now() < until) {
    await sleep(KILL_POLL_MS);
    rest = await stillThere(rest);
  }
  const killed = rest.length;
  if (rest.length > 0) {
    signal(rest, 'SIGKILL');
    // A process started during the grace (a fork) is in the session too.
    const late = (await members()).filter((p) => !rest.some((r) => r.pid === p.pid));
    signal(late, 'SIGKILL');
  }
  if (forbidden.size > 0 && options.forbidden) await options.forbidden([...forbidden]).catch(() => undefined);
  const deadline = Date.now() + graceMs;
  let left = await members();
  while (left.length > 0 && Date.now() < deadline) {
    await sleep(KILL_POLL_MS);
    left = await members();
  }
  return { hungUp: first.length, killed, forbidden: forbidden.size, left: left.length };
}

async function stillThere(procs: ProcStat[]): Promise<ProcStat[]> {
  const now = await Promise.all(procs.map(async (p) => ({ p, s: await readProcStat(p.pid) })));
  return now.filter(({ p, s }) => s && s.startTime === p.startTime && s.state !== 'Z' && s.state !== 'X').map(({ p }) => p);
}

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}
