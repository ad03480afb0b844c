// The fast path of a volume backup: GNU tar of the volume's folder on the host, as the agent's
// user. Taken only when every entry is owned by the agent's user and group (in rootless Podman,
// the container's root), so the archive, with owners written as 0, is what a helper container's
// tar would give, at disk speed rather than through Podman's exec stream (~100 MiB/s here).
// Anything else (a file of another container user, an unreadable entry) takes the helper.
import { spawn } from 'node:child_process';
import { Readable } from 'node:stream';
import { SourceCommandError } from './exec-process';

const STDERR_TAIL_BYTES = 4 * 1024;
const KILL_GRACE_MS = 2_000;

// True when tar on the host can read the whole folder and give every entry to the container's root.
export function hostTarPossible(folder: string, uid = process.getuid?.() ?? -1, gid = process.getgid?.() ?? -1): Promise<boolean> {
  if (!folder || uid < 0) return Promise.resolve(false);
  return new Promise((resolve) => {
    const find = spawn('find', [folder, '(', '!', '-uid', String(uid), '-o', '!', '-gid', String(gid), '-o', '!', '-readable', ')', '-print', '-quit'], { stdio: ['ignore', 'pipe', 'ignore'] });
    let out = '';
    find.stdout.on('data', (c: Buffer) => (out += c.toString()));
    find.on('error', () => resolve(false));
    find.on('close', (code) => resolve(code === 0 && out === ''));
  });
}

// The archive as a stream. It ends only when tar exited 0 and `finish` ran; otherwise it fails
// with tar's exit code and the end of its stderr. Destroying it stops tar, then runs `finish`.
export function openHostTar(folder: string, what: string, finish: () => Promise<void>, explainExit?: (code: number) => string | undefined): Readable {
  const tar = spawn('tar', ['-c', '-f', '-', '--numeric-owner', '--owner=0', '--group=0', '-C', folder, '.'], { stdio: ['ignore', 'pipe', 'pipe'] });
  let stderr = '';
  tar.stderr.on('data', (c: Buffer) => (stderr = (stderr + c.toString()).slice(-STDERR_TAIL_BYTES)));
  let finished: Promise<void> | undefined;
  const finishOnce = () => (finished ??= finish());
  const out = new Readable({
    read: () => tar.stdout.resume(),
    destroy: (err, done) => {
      if (tar.exitCode === null && tar.signalCode === null) {
        tar.kill('SIGTERM');
        setTimeout(() => tar.kill('SIGKILL'), KILL_GRACE_MS).unref();
      }
      finishOnce().then(
        () => done(err),
        (cleanup: Error) => done(err ?? cleanup),
      );
    },
  });
  tar.stdout.on('data', (c: Buffer) => {
    if (!out.push(c)) tar.stdout.pause();
  });
  tar.on('error', (err) => out.destroy(new SourceCommandError(`${what}: tar could not start on the node: ${err.message}`)));
  tar.on('close', (code, signal) => {
    if (out.destroyed) return;
    finishOnce().then(
      () => {
        if (code === 0) out.push(null);
        else {
          const why = code !== null ? `tar exited ${code}` : `tar was killed by ${signal}`;
          const hint = code !== null ? explainExit?.(code) : undefined;
          out.destroy(new SourceCommandError(`${what}: ${why}${hint ? ` (${hint})` : ''}: ${stderr.trim() || 'no message'}`, code ?? undefined, stderr));
        }
      },
      (err: Error) => out.destroy(err),
    );
  });
  return out;
}
