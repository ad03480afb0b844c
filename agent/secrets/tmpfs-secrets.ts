// Where a container's secrets exist in plain text: one folder per container on a tmpfs
// (/dev/shm: memory, never a disk), 0700 folders and 0400 files owned by the agent's user, one
// file per name, bind-mounted read-only at /run/secrets. Nothing else on the node holds a value.
import { closeSync, existsSync, lstatSync, mkdirSync, openSync, readdirSync, rmSync, statfsSync, writeSync } from 'node:fs';
import { join } from 'node:path';

export const SECRETS_TMPFS_ROOT = '/dev/shm';
const TMPFS_MAGIC = 0x01021994;
const RAMFS_MAGIC = 0x858458f6;
const CONTAINER_NAME = /^[a-zA-Z0-9][a-zA-Z0-9_.-]*$/;
const SECRET_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;

export class TmpfsSecrets {
  readonly base: string;

  constructor(root: string = SECRETS_TMPFS_ROOT, uid: number = process.getuid?.() ?? 0) {
    this.base = join(root, `podploy-secrets-${uid}`);
  }

  dirFor(container: string): string {
    if (!CONTAINER_NAME.test(container)) throw new Error(`container name "${container}" cannot name a secrets folder`);
    return join(this.base, container);
  }

  // Writes the container's folder afresh and returns it.
  write(container: string, values: Record<string, string>): string {
    this.ensureBase();
    const dir = this.dirFor(container);
    rmSync(dir, { recursive: true, force: true });
    mkdirSync(dir, { mode: 0o700 });
    for (const [name, value] of Object.entries(values)) {
      if (!SECRET_NAME.test(name)) throw new Error(`secret name "${name}" is not an environment variable name`);
      const bytes = Buffer.from(value, 'utf8');
      // 'wx': never follow or reuse something that is already there.
      const fd = openSync(join(dir, name), 'wx', 0o400);
      try {
        writeSync(fd, bytes);
      } finally {
        closeSync(fd);
        bytes.fill(0);
      }
    }
    return dir;
  }

  has(container: string): boolean {
    return existsSync(this.dirFor(container));
  }

  remove(container: string): void {
    rmSync(this.dirFor(container), { recursive: true, force: true });
  }

  // The containers that have a folder now.
  list(): string[] {
    if (!existsSync(this.base)) return [];
    return readdirSync(this.base);
  }

  // The base folder: made 0700 if missing; one that another user made (/dev/shm is writable by
  // everyone), a symlink, or a folder others can enter, is refused.
  private ensureBase(): void {
    // statfs arrived in Node 18.15; an older Node skips this check.
    const fsType = typeof statfsSync === 'function' ? statfsSync(join(this.base, '..')).type : TMPFS_MAGIC;
    if (fsType !== TMPFS_MAGIC && fsType !== RAMFS_MAGIC) {
      throw new Error(`${join(this.base, '..')} is not a tmpfs (filesystem type 0x${fsType.toString(16)}): secrets would be written to a disk; refusing`);
    }
    try {
      mkdirSync(this.base, { mode: 0o700 });
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
    }
    const st = lstatSync(this.base);
    const uid = process.getuid?.();
    if (!st.isDirectory() || st.isSymbolicLink() || (uid !== undefined && st.uid !== uid) || (st.mode & 0o077) !== 0) {
      throw new Error(`${this.base} is not a private folder of this user (owner uid ${st.uid}, mode ${(st.mode & 0o777).toString(8)}): remove it and deploy again`);
    }
  }
}
