import { readFileSync, rmSync, writeFileSync } from 'node:fs';

export const PID_FILE_MODE = 0o644;

export function readPid(pidFile: string): number | null {
  try {
    const pid = Number.parseInt(readFileSync(pidFile, 'utf8').trim(), 10);
    return Number.isInteger(pid) && pid > 0 ? pid : null;
  } catch {
    return null;
  }
}

export function writePid(pidFile: string, pid: number, exclusive = false): void {
  writeFileSync(pidFile, `${pid}\n`, { mode: PID_FILE_MODE, flag: exclusive ? 'wx' : 'w' });
}

export function removePid(pidFile: string): void {
  rmSync(pidFile, { force: true });
}

// kill -0: the process exists (EPERM: it exists but belongs to someone else). A zombie is dead:
// where PID 1 is no init system, orphans are never reaped.
export function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EPERM') return false;
  }
  return !isZombie(pid);
}

function isZombie(pid: number): boolean {
  try {
    // /proc/PID/stat: "pid (comm) S ...": the state follows the last ')'.
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) === 'Z';
  } catch {
    return false;
  }
}

// Guards against a recycled pid: the process's command line must contain `marker`. Where
// /proc is unreadable the pid alone decides.
export function isAliveRunning(pid: number, marker: string): boolean {
  if (!isAlive(pid)) return false;
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').join(' ').includes(marker);
  } catch {
    return true;
  }
}

// The process in pidFile, if it is alive and looks like `marker`.
export function livePidFromFile(pidFile: string, marker: string): number | null {
  const pid = readPid(pidFile);
  return pid !== null && pid !== process.pid && isAliveRunning(pid, marker) ? pid : null;
}
