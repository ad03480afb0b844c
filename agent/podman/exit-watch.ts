// Millisecond death detection: conmon writes a container's exit code to <tmp dir>/exits/<id>
// within ~2 ms of the death (measured here with Podman 4.3 and runc), while Podman's events
// stream reports the death ~100-250 ms later (its `died` comes from the cleanup process conmon
// starts). This watches that folder with inotify (fs.watch). The file is written under a
// temporary name and renamed, and the cleanup process deletes it later.
//
// Where the folder is (Podman's tmp_dir, which its API does not report):
//   rootful   /run/libpod (Debian's libpod.conf says /var/run/libpod, the same place)
//   rootless  $XDG_RUNTIME_DIR/libpod/tmp, else /run/user/UID/libpod/tmp when that exists,
//             else /tmp/podman-run-UID/libpod/tmp (a user without a login session)
// containers.conf's [engine] tmp_dir overrides these.
import { existsSync, mkdirSync, readFileSync, statSync, watch, type FSWatcher } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import type { Logger } from '../logger';

export const EXITS_FOLDER = 'exits';
const CONTAINER_ID = /^[0-9a-f]{64}$/;
const ROOTLESS_CONF = ['.config/containers/containers.conf'];
const ROOTFUL_CONF = ['/etc/containers/containers.conf', '/usr/share/containers/containers.conf'];

export interface ExitNotice {
  id: string;
  exitCode: number;
  // Date.now() when the agent saw the file.
  detectedAtMs: number;
  // performance.now() then, for latency measurements.
  detectedAtPerf: number;
  // The exit file's modification time (conmon writes it at the death).
  exitedAtMs?: number;
}

// Podman's tmp_dir candidates for this process's user, most likely first.
export function tmpDirCandidates(env: NodeJS.ProcessEnv = process.env, uid = process.getuid?.() ?? 0, home = homedir()): string[] {
  const configured = configuredTmpDir(uid === 0 ? ROOTFUL_CONF : [...ROOTLESS_CONF.map((f) => join(home, f)), ...ROOTFUL_CONF]);
  const out: string[] = configured ? [configured] : [];
  if (uid === 0) out.push('/run/libpod', '/var/run/libpod');
  else {
    if (env.XDG_RUNTIME_DIR) out.push(join(env.XDG_RUNTIME_DIR, 'libpod', 'tmp'));
    out.push(`/run/user/${uid}/libpod/tmp`, `/tmp/podman-run-${uid}/libpod/tmp`);
  }
  return [...new Set(out)];
}

// The exits folder: the first candidate tmp dir that exists (Podman makes it at its first
// container; the exits folder itself is made here when missing).
export function findExitsDir(candidates: string[] = tmpDirCandidates()): string | undefined {
  for (const dir of candidates) {
    if (!isDir(dir)) continue;
    const exits = join(dir, EXITS_FOLDER);
    try {
      mkdirSync(exits, { recursive: true, mode: 0o700 });
      return exits;
    } catch {
      // not ours to write: try the next
    }
  }
  return undefined;
}

// `tmp_dir = "…"` under [engine] of the last containers.conf that sets it.
function configuredTmpDir(files: string[]): string | undefined {
  let found: string | undefined;
  for (const file of [...files].reverse()) {
    let text: string;
    try {
      text = readFileSync(file, 'utf8');
    } catch {
      continue;
    }
    let section = '';
    for (const raw of text.split('\n')) {
      const line = raw.replace(/#.*/, '').trim();
      const s = /^\[([^\]]+)\]$/.exec(line);
      if (s) section = s[1].trim();
      const m = /^tmp_dir\s*=\s*"([^"]+)"$/.exec(line);
      if (m && section === 'engine') found = m[1];
    }
  }
  return found;
}

function isDir(path: string): boolean {
  try {
    return statSync(path).isDirectory();
  } catch {
    return false;
  }
}

export interface ExitWatchOptions {
  dir: string;
  onExit: (notice: ExitNotice) => void;
  // The folder can no longer be watched (removed, inotify error); the owner falls back.
  onError?: (reason: string) => void;
  log?: Logger;
}

export class ExitWatch {
  private watcher?: FSWatcher;
  // id -> the exit file's inode and ctime last reported, so the several inotify events of one
  // write report it once.
  private readonly seen = new Map<string, string>();

  constructor(private readonly options: ExitWatchOptions) {}

  get watching(): boolean {
    return this.watcher !== undefined;
  }

  // Throws when the folder cannot be watched (the caller falls back to the events stream).
  start(): void {
    if (this.watcher) return;
    if (!existsSync(this.options.dir)) throw new Error(`${this.options.dir} does not exist`);
    const watcher = watch(this.options.dir, { persistent: false }, (_type, file) => {
      if (typeof file === 'string' && CONTAINER_ID.test(file)) this.check(file);
    });
    watcher.on('error', (err) => {
      this.close();
      this.options.onError?.(`watching ${this.options.dir} failed: ${err.message}`);
    });
    this.watcher = watcher;
  }

  close(): void {
    this.watcher?.close();
    this.watcher = undefined;
  }

  // Forgets what was reported for a container (it was started again; its next exit file is new).
  reset(id: string): void {
    this.seen.delete(id);
  }

  private check(id: string): void {
    const path = join(this.options.dir, id);
    let text: string;
    let mark: string;
    let exitedAtMs: number;
    try {
      const st = statSync(path);
      exitedAtMs = st.mtimeMs;
      mark = `${st.ino}/${st.ctimeMs}`;
      if (this.seen.get(id) === mark) return;
      text = readFileSync(path, 'utf8').trim();
    } catch {
      // deleted (the cleanup process took it): nothing to report
      return;
    }
    if (!/^-?\d+$/.test(text)) return;
    this.seen.set(id, mark);
    if (this.seen.size > 1_000) this.seen.delete(this.seen.keys().next().value as string);
    this.options.onExit({ id, exitCode: Number(text), detectedAtMs: Date.now(), detectedAtPerf: performance.now(), exitedAtMs });
  }
}
