// A folder on the node or a mounted disk. put() writes KEY.partial-<random>, fsyncs it, renames
// it over KEY and fsyncs the folder, so a crash leaves the old object or the new one.
import { randomBytes } from 'node:crypto';
import { mkdir, open, readdir, rename, rmdir, stat, unlink, type FileHandle } from 'node:fs/promises';
import { basename, dirname, join, relative, resolve, sep } from 'node:path';
import { addAbortSignal, Writable, type Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { ByteCounter } from './byte-counter';
import type { BackupDestination, GetOptions, PutOptions, StoredObject, TestResult } from './destination';
import {
  DestinationAbortedError,
  DestinationError,
  DestinationIoError,
  DestinationNotFoundError,
  DestinationPermissionError,
  DestinationUnreachableError,
  errorText,
} from './errors';
import { checkKey, checkPrefix, isPartialName, PARTIAL_INFIX } from './object-keys';
import { probeDestination } from './probe';

export const LOCAL_DIR_MODE = 0o700;
export const LOCAL_FILE_MODE = 0o600;

export class LocalDestination implements BackupDestination {
  readonly kind = 'local' as const;
  readonly where: string;
  private readonly root: string;

  constructor(path: string) {
    this.root = resolve(path);
    this.where = `local folder ${this.root}`;
  }

  test(): Promise<TestResult> {
    return probeDestination(this, () => this.ensureRoot());
  }

  async put(key: string, source: Readable, opts: PutOptions = {}): Promise<{ bytes: number }> {
    const target = this.pathOf(checkKey(key));
    await this.ensureRoot();
    const folder = dirname(target);
    const partial = `${target}${PARTIAL_INFIX}${randomBytes(6).toString('hex')}`;
    try {
      await mkdir(folder, { recursive: true, mode: LOCAL_DIR_MODE });
      const file = await open(partial, 'wx', LOCAL_FILE_MODE);
      const counter = new ByteCounter(opts.onProgress);
      try {
        await pipeline(source, counter, syncedWriter(file), { signal: opts.signal });
      } finally {
        await file.close().catch(() => undefined);
      }
      await rename(partial, target);
      await syncFolder(folder);
      return { bytes: counter.bytes };
    } catch (err) {
      await unlink(partial).catch(() => undefined);
      source.destroy();
      if (opts.signal?.aborted) throw new DestinationAbortedError(`backup to ${this.where} was cancelled; nothing was stored under ${key}`);
      throw this.translate(err, `cannot store ${key}`);
    }
  }

  async get(key: string, opts: GetOptions = {}): Promise<Readable> {
    const path = this.pathOf(checkKey(key));
    try {
      const file = await open(path, 'r');
      const info = await file.stat();
      if (!info.isFile()) {
        await file.close();
        throw Object.assign(new Error('not a regular file'), { code: 'ENOENT' });
      }
      const stream = file.createReadStream();
      return opts.signal ? addAbortSignal(opts.signal, stream) : stream;
    } catch (err) {
      throw this.translate(err, `cannot read ${key}`);
    }
  }

  async list(prefix = ''): Promise<StoredObject[]> {
    checkPrefix(prefix);
    const start = prefix.includes('/') ? prefix.slice(0, prefix.lastIndexOf('/')) : '';
    const out: StoredObject[] = [];
    const walk = async (rel: string): Promise<void> => {
      let entries;
      try {
        entries = await readdir(join(this.root, rel), { withFileTypes: true });
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code === 'ENOENT' || (err as NodeJS.ErrnoException).code === 'ENOTDIR') return;
        throw err;
      }
      for (const entry of entries) {
        const key = rel ? `${rel}/${entry.name}` : entry.name;
        if (entry.isDirectory()) {
          if (prefix.startsWith(`${key}/`) || key.startsWith(prefix)) await walk(key);
        } else if (entry.isFile() && key.startsWith(prefix) && !isPartialName(entry.name)) {
          const info = await stat(join(this.root, key)).catch(() => null);
          if (info) out.push({ key, size: info.size, modifiedAt: info.mtime });
        }
      }
    };
    try {
      await walk(start);
    } catch (err) {
      throw this.translate(err, `cannot list ${prefix || 'the folder'}`);
    }
    return out.sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
  }

  // Also removes what an upload of the key left when its writer died (KEY.partial-*).
  async delete(key: string): Promise<void> {
    const path = this.pathOf(checkKey(key));
    const leftovers = (await readdir(dirname(path)).catch(() => [] as string[])).filter((n) => n.startsWith(`${basename(path)}${PARTIAL_INFIX}`));
    for (const victim of [path, ...leftovers.map((n) => join(dirname(path), n))]) {
      try {
        await unlink(victim);
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw this.translate(err, `cannot delete ${key}`);
      }
    }
    await this.removeEmptyFolders(dirname(path));
  }

  async close(): Promise<void> {}

  private async ensureRoot(): Promise<void> {
    try {
      await mkdir(this.root, { recursive: true, mode: LOCAL_DIR_MODE });
      const info = await stat(this.root);
      if (!info.isDirectory()) throw new DestinationIoError(`${this.where} is not a folder: point the destination at a folder`);
    } catch (err) {
      if (err instanceof DestinationError) throw err;
      const code = (err as NodeJS.ErrnoException).code;
      if (code === 'EACCES' || code === 'EPERM' || code === 'EROFS') {
        throw new DestinationPermissionError(`cannot create ${this.where} (${code}): let the agent's user write there, or choose another folder`, err);
      }
      throw new DestinationUnreachableError(`${this.where} is not usable (${errorText(err)}): check that the disk is mounted`, err);
    }
  }

  // Retention deletes whole dated folders' worth of keys; empty folders should go with them.
  private async removeEmptyFolders(folder: string): Promise<void> {
    while (folder !== this.root && folder.startsWith(this.root + sep)) {
      try {
        await rmdir(folder);
      } catch {
        return;
      }
      folder = dirname(folder);
    }
  }

  private pathOf(key: string): string {
    const path = resolve(this.root, ...key.split('/'));
    if (!path.startsWith(this.root + sep) || relative(this.root, path).startsWith('..')) {
      throw new DestinationIoError(`refused key ${key}: it resolves outside ${this.where}`);
    }
    return path;
  }

  private translate(err: unknown, what: string): DestinationError {
    if (err instanceof DestinationError) return err;
    const code = (err as NodeJS.ErrnoException).code;
    switch (code) {
      case 'ENOENT':
      case 'ENOTDIR':
        return new DestinationNotFoundError(`${what} in ${this.where}: no such backup file`, err);
      case 'EACCES':
      case 'EPERM':
      case 'EROFS':
        return new DestinationPermissionError(`${what} in ${this.where}: permission denied (${code}); let the agent's user write there`, err);
      case 'ENOSPC':
      case 'EDQUOT':
        return new DestinationIoError(`${what} in ${this.where}: the disk is full (${code}); free space or lower the retention`, err);
      case 'ABORT_ERR':
        return new DestinationAbortedError(`${what} in ${this.where}: cancelled`);
      default:
        return new DestinationIoError(`${what} in ${this.where}: ${errorText(err)}`, err);
    }
  }
}

async function syncFolder(folder: string): Promise<void> {
  const handle = await open(folder, 'r');
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}

// Writes through FILE (left open for the caller to close) and fsyncs it before finishing.
function syncedWriter(file: FileHandle): Writable {
  return new Writable({
    highWaterMark: 1024 * 1024,
    write(chunk: Buffer, _enc, done) {
      writeAll(file, chunk).then(() => done(), done);
    },
    final(done) {
      file.sync().then(() => done(), done);
    },
  });
}

async function writeAll(file: FileHandle, chunk: Buffer): Promise<void> {
  for (let offset = 0; offset < chunk.length; ) {
    const { bytesWritten } = await file.write(chunk, offset, chunk.length - offset);
    offset += bytesWritten;
  }
}
