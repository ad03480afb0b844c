// Writes one backup run to every destination at once: the source is sealed once (chunked
// XChaCha20-Poly1305) and the sealed bytes stream to each target's put(); the slowest target
// paces the source, so nothing is staged in memory or on disk. The sealed manifest goes beside
// the data last. A run exists only when every target holds both; any failure (source, a target,
// the caller's signal) aborts every put and removes what was written everywhere.
import { createHash } from 'node:crypto';
import { PassThrough, Readable, Transform, Writable, type TransformCallback } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { BACKUP_DATA_OBJECT, BACKUP_FORMAT, BACKUP_MANIFEST_OBJECT } from '../backup-defaults';
import { createSealStream } from '../sealed-stream';
import type { BackupDestination } from './destinations/destination';
import { errorText } from './destinations/errors';
import { sealManifest, type BackupManifest } from './manifest';
import { deleteBackupRun } from './read-run';

// Plaintext per sealed chunk: large enough for the native cipher's speed, small enough that a
// restore releases data soon and memory stays a few MiB per target.
export const BACKUP_CHUNK_BYTES = 512 * 1024;
// Sealed bytes queued per target before the source waits for it.
export const TARGET_BUFFER_BYTES = 2 * 1024 * 1024;

export interface RunTarget {
  id: string;
  destination: BackupDestination;
}

export interface RunCopy {
  id: string;
  key: string;
  ok: boolean;
  error: string | null;
}

export type RunManifestInput = Omit<BackupManifest, 'plainBytes' | 'sealedBytes' | 'plainSha256' | 'chunkBytes' | 'finishedAt' | 'format'>;

export interface WriteRunOptions {
  source: Readable;
  key: Uint8Array;
  targets: RunTarget[];
  folder: string;
  manifest: RunManifestInput;
  signal?: AbortSignal;
  onProgress?: (p: { plainBytes: number; sealedBytes: number }) => void;
}

// The run failed; nothing of it is left on any target (unless `leftovers` says otherwise).
export class BackupWriteError extends Error {
  constructor(
    message: string,
    readonly copies: RunCopy[],
    readonly leftovers: string[],
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = 'BackupWriteError';
  }
}

export async function writeBackupRun(opts: WriteRunOptions): Promise<{ manifest: BackupManifest; copies: RunCopy[] }> {
  const { source, key, targets, folder } = opts;
  if (targets.length === 0) {
    source.destroy();
    throw new BackupWriteError(`backup run ${opts.manifest.runId} has no destination to write to: give the policy at least one`, [], []);
  }
  const ids = new Set(targets.map((t) => t.id));
  if (ids.size !== targets.length) {
    source.destroy();
    throw new BackupWriteError(`backup run ${opts.manifest.runId} lists a destination twice: each destination holds one copy`, [], []);
  }
  const dataKey = `${folder}/${BACKUP_DATA_OBJECT}`;
  const manifestKey = `${folder}/${BACKUP_MANIFEST_OBJECT}`;
  const failure = new RunFailure(targets);
  const abortAll = new AbortController();
  const onCallerAbort = () => failure.fail(new Error('the backup was cancelled'), undefined, abortAll);
  if (opts.signal?.aborted) onCallerAbort();
  opts.signal?.addEventListener('abort', onCallerAbort, { once: true });

  const plain = new Digest();
  const sealed = new Digest(false);
  const report = () => opts.onProgress?.({ plainBytes: plain.bytes, sealedBytes: sealed.bytes });
  try {
    const outs = targets.map(() => new PassThrough({ highWaterMark: TARGET_BUFFER_BYTES }));
    const puts = targets.map((t, i) =>
      t.destination.put(dataKey, outs[i], { signal: abortAll.signal }).then(
        () => undefined,
        (err: unknown) => failure.fail(err, t, abortAll),
      ),
    );
    try {
      await pipeline(source, plain.counter(), createSealStream(key, { chunkBytes: BACKUP_CHUNK_BYTES }), sealed.counter(report), fanOut(outs), { signal: abortAll.signal });
    } catch (err) {
      // A target that stopped taking data is about to reject its put with the reason: that
      // reason is the run's failure, so it is awaited before the other puts are aborted.
      if (err instanceof TargetGone) await puts[err.index];
      failure.fail(err, undefined, abortAll);
      for (const out of outs) out.destroy();
    }
    await Promise.all(puts);
    failure.throwIfFailed();

    const manifest: BackupManifest = {
      format: BACKUP_FORMAT,
      ...opts.manifest,
      finishedAt: Date.now(),
      plainBytes: plain.bytes,
      sealedBytes: sealed.bytes,
      plainSha256: plain.hex(),
      chunkBytes: BACKUP_CHUNK_BYTES,
    };
    const sealedManifest = await sealManifest(key, manifest);
    await Promise.all(
      targets.map((t) =>
        t.destination.put(manifestKey, Readable.from([sealedManifest]), { signal: abortAll.signal }).then(
          () => undefined,
          (err: unknown) => failure.fail(err, t, abortAll),
        ),
      ),
    );
    failure.throwIfFailed();
    return { manifest, copies: targets.map((t) => ({ id: t.id, key: folder, ok: true, error: null })) };
  } catch (err) {
    if (!(err instanceof RunFailed)) failure.fail(err, undefined, abortAll);
    source.destroy();
    const leftovers = await removeEverywhere(targets, folder);
    throw failure.error(opts.manifest.runId, folder, leftovers);
  } finally {
    opts.signal?.removeEventListener('abort', onCallerAbort);
  }
}

// Deletes the run's objects on every target; returns what could not be removed.
async function removeEverywhere(targets: RunTarget[], folder: string): Promise<string[]> {
  const results = await Promise.all(
    targets.map((t) => deleteBackupRun(t.destination, folder).then(
      () => null,
      (err: unknown) => `${t.id} (${t.destination.where}): ${errorText(err)}`,
    )),
  );
  return results.filter((r): r is string => r !== null);
}

class RunFailed extends Error {}

// The first failure of a run: what it was and which target (if any) it came from.
class RunFailure {
  private first: { err: unknown; target?: RunTarget } | undefined;

  constructor(private readonly targets: RunTarget[]) {}

  fail(err: unknown, target: RunTarget | undefined, abortAll: AbortController): void {
    if (!this.first) this.first = { err, target };
    abortAll.abort();
  }

  throwIfFailed(): void {
    if (this.first) throw new RunFailed();
  }

  error(runId: string, folder: string, leftovers: string[]): BackupWriteError {
    const first = this.first ?? { err: new Error('unknown failure') };
    const cause = first.target ? `destination ${first.target.id} (${first.target.destination.where}) failed: ${errorText(first.err)}` : errorText(first.err);
    const copies = this.targets.map((t) => ({
      id: t.id,
      key: folder,
      ok: false,
      error: t === first.target ? errorText(first.err) : `not kept: ${first.target ? `destination ${first.target.id} failed` : 'the run failed'}`,
    }));
    const cleanup = leftovers.length
      ? `; removing the partial run failed on ${leftovers.join('; ')} (delete ${folder} there by hand)`
      : '; nothing of it was left on any destination';
    return new BackupWriteError(`backup run ${runId} failed: ${cause}${cleanup}`, copies, leftovers, { cause: first.err });
  }
}

// Byte count and (when hashing) sha256 of what passes through. The sealed bytes are only
// counted: every sealed chunk carries its own tag, and a second sha256 pass cost a third of the
// throughput.
class Digest {
  bytes = 0;
  private readonly hash: ReturnType<typeof createHash> | undefined;

  constructor(hashing = true) {
    this.hash = hashing ? createHash('sha256') : undefined;
  }

  counter(onChunk?: () => void): Transform {
    return new Transform({
      transform: (chunk: Buffer, _enc, done: TransformCallback) => {
        this.bytes += chunk.length;
        this.hash?.update(chunk);
        onChunk?.();
        done(null, chunk);
      },
    });
  }

  hex(): string {
    if (!this.hash) throw new Error('this digest only counts bytes');
    return this.hash.digest('hex');
  }
}

// Writes every chunk to every output; waits until each output has room (or is gone) before
// taking the next chunk.
function fanOut(outs: PassThrough[]): Writable {
  return new Writable({
    write(chunk: Buffer, _enc, done) {
      const waits: Promise<void>[] = [];
      for (const out of outs) {
        if (out.destroyed) return done(new TargetGone(outs.indexOf(out)));
        if (!out.write(chunk)) waits.push(roomIn(out, outs.indexOf(out)));
      }
      if (waits.length === 0) return done();
      Promise.all(waits).then(() => done(), done);
    },
    final(done) {
      for (const out of outs) out.end();
      done();
    },
  });
}

class TargetGone extends Error {
  constructor(readonly index: number) {
    super(`destination #${index + 1} stopped taking data`);
  }
}

function roomIn(out: PassThrough, index: number): Promise<void> {
  return new Promise((resolve, reject) => {
    const drained = () => {
      out.off('close', closed);
      resolve();
    };
    const closed = () => {
      out.off('drain', drained);
      reject(new TargetGone(index));
    };
    out.once('drain', drained);
    out.once('close', closed);
  });
}
