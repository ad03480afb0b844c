// Reads one backup run back from a destination as verified plaintext. The manifest is opened
// first (wrong key, altered manifest: refused before any data is read); then every sealed chunk
// is authenticated before its plaintext is released, and at the end size and sha256 must equal
// the manifest's, else the stream errors instead of ending: a restore never sees the EOF of a
// bad backup.
import { createHash } from 'node:crypto';
import { Transform, type Readable, type TransformCallback } from 'node:stream';
import { pipeline } from 'node:stream';
import { BACKUP_DATA_OBJECT, BACKUP_MANIFEST_OBJECT } from '../backup-defaults';
import { SealedStreamReader } from '../sealed-stream';
import type { BackupDestination } from './destinations/destination';
import { DestinationNotFoundError } from './destinations/errors';
import { BackupIntegrityError } from './integrity-error';
import { integrityErrorOf, MAX_MANIFEST_BYTES, openManifest, type BackupManifest } from './manifest';

export { BackupIntegrityError } from './integrity-error';

export interface ReadRunOptions {
  destination: BackupDestination;
  folder: string;
  key: Uint8Array;
  signal?: AbortSignal;
  onProgress?: (p: { plainBytes: number; sealedBytes: number }) => void;
}

export async function readBackupRun(opts: ReadRunOptions): Promise<{ manifest: BackupManifest; data: Readable }> {
  const { destination, folder, key } = opts;
  const manifest = openManifest(key, await readManifestBytes(destination, `${folder}/${BACKUP_MANIFEST_OBJECT}`, opts.signal));
  const [, policyId, runId] = folder.split('/').slice(-3);
  if ((runId !== undefined && manifest.runId !== runId) || (policyId !== undefined && manifest.policyId !== policyId)) {
    throw new BackupIntegrityError('manifest', `the manifest in ${folder} on ${destination.where} belongs to run ${manifest.runId} of policy ${manifest.policyId}: it was moved or swapped, so it is refused`);
  }
  const sealed = await destination.get(`${folder}/${BACKUP_DATA_OBJECT}`, { signal: opts.signal });
  const verifier = new VerifiedPlaintext(key, manifest, `the backup data of run ${manifest.runId}`, opts.onProgress);
  pipeline(sealed, verifier, () => undefined);
  return { manifest, data: verifier };
}

// Removes a run's objects (manifest first, so a half-removed run no longer lists as a run).
export async function deleteBackupRun(destination: BackupDestination, folder: string): Promise<void> {
  await destination.delete(`${folder}/${BACKUP_MANIFEST_OBJECT}`);
  await destination.delete(`${folder}/${BACKUP_DATA_OBJECT}`);
}

async function readManifestBytes(destination: BackupDestination, manifestKey: string, signal?: AbortSignal): Promise<Buffer> {
  let stream: Readable;
  try {
    stream = await destination.get(manifestKey, { signal });
  } catch (err) {
    if (err instanceof DestinationNotFoundError) {
      throw new DestinationNotFoundError(`no backup run at ${manifestKey.slice(0, -BACKUP_MANIFEST_OBJECT.length - 1)} on ${destination.where} (its manifest is missing): it was pruned, deleted, or never completed`, err);
    }
    throw err;
  }
  const parts: Buffer[] = [];
  let size = 0;
  for await (const chunk of stream) {
    size += (chunk as Buffer).length;
    if (size > MAX_MANIFEST_BYTES) {
      stream.destroy();
      throw new BackupIntegrityError('manifest', `${manifestKey} on ${destination.where} is larger than any backup manifest (${MAX_MANIFEST_BYTES} bytes): it is not one`);
    }
    parts.push(chunk as Buffer);
  }
  return Buffer.concat(parts);
}

// Sealed bytes in, authenticated plaintext out; errors (BackupIntegrityError) instead of ending
// when anything does not match the manifest.
class VerifiedPlaintext extends Transform {
  private readonly reader: SealedStreamReader;
  private readonly plainHash = createHash('sha256');
  private plainBytes = 0;
  private sealedBytes = 0;

  constructor(
    key: Uint8Array,
    private readonly manifest: BackupManifest,
    private readonly what: string,
    private readonly onProgress?: (p: { plainBytes: number; sealedBytes: number }) => void,
  ) {
    super();
    this.reader = new SealedStreamReader(key);
  }

  override _transform(chunk: Buffer, _enc: BufferEncoding, done: TransformCallback): void {
    this.sealedBytes += chunk.length;
    if (this.sealedBytes > this.manifest.sealedBytes) return done(this.sizeError('longer'));
    let plain: Buffer[];
    try {
      plain = this.reader.push(chunk);
    } catch (err) {
      return done(integrityErrorOf(err, this.what) as Error);
    }
    for (const p of plain) {
      this.plainBytes += p.length;
      if (this.plainBytes > this.manifest.plainBytes) return done(this.sizeError('longer'));
      this.plainHash.update(p);
      this.push(p);
    }
    this.onProgress?.({ plainBytes: this.plainBytes, sealedBytes: this.sealedBytes });
    done();
  }

  override _flush(done: TransformCallback): void {
    try {
      this.reader.finish();
    } catch (err) {
      return done(integrityErrorOf(err, this.what) as Error);
    }
    if (this.plainBytes !== this.manifest.plainBytes || this.sealedBytes !== this.manifest.sealedBytes) return done(this.sizeError('shorter'));
    const plainSha = this.plainHash.digest('hex');
    if (plainSha !== this.manifest.plainSha256) {
      return done(new BackupIntegrityError('checksum', `${this.what} does not match its manifest's sha256 (${plainSha} instead of ${this.manifest.plainSha256}): the data file was replaced; the restore is refused`));
    }
    done();
  }

  private sizeError(how: 'longer' | 'shorter'): BackupIntegrityError {
    return new BackupIntegrityError(
      'size',
      `${this.what} is ${how} than its manifest says (${this.plainBytes} plain / ${this.sealedBytes} sealed bytes read, manifest: ${this.manifest.plainBytes} / ${this.manifest.sealedBytes}): the data file was replaced; the restore is refused`,
    );
  }
}
