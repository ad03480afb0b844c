// The shared backup pipeline (writeBackupRun / readBackupRun) against real destinations: local
// folders in a temp dir and s3rver (a real S3-protocol server from npm, in-process on loopback).
import { createHash, randomBytes } from 'node:crypto';
import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import S3rver from 's3rver';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BACKUP_DATA_OBJECT, BACKUP_MANIFEST_OBJECT } from '../backup-defaults';
import type { BackupDestination } from './destinations/destination';
import { MiB, patternSource, progressGate, relay } from './destinations/destination-spec-support';
import { openDestination } from './destinations/open-destination';
import type { S3Destination } from './destinations/s3';
import { openManifest, runFolder, sealManifest } from './manifest';
import { BackupIntegrityError, deleteBackupRun, readBackupRun } from './read-run';
import { BACKUP_CHUNK_BYTES, BackupWriteError, writeBackupRun, type RunManifestInput } from './write-run';

const KEY = randomBytes(32);
let work: string;
let s3: S3rver;
let s3Port: number;
const BUCKET = 'runs';

beforeAll(async () => {
  work = await mkdtemp(join(tmpdir(), 'podploy-backup-run-'));
  const store = join(work, 's3rver');
  s3 = new S3rver({ address: '127.0.0.1', port: 0, silent: true, directory: store, configureBuckets: [{ name: BUCKET }] });
  // s3rver lacks AbortMultipartUpload; as in destinations/s3.spec.ts, it removes the upload's folder.
  s3.middleware.unshift(async (ctx, next) => {
    const uploadId = ctx.query.uploadId;
    if (ctx.method !== 'DELETE' || typeof uploadId !== 'string') return next();
    await rm(join(store, ctx.path.split('/')[1], '._S3rver_uploads', uploadId), { recursive: true, force: true });
    ctx.status = 204;
  });
  ({ port: s3Port } = await s3.run());
});

afterAll(async () => {
  await s3?.close();
  await rm(work, { recursive: true, force: true });
});

let seq = 0;
async function local(): Promise<{ dest: BackupDestination; path: string }> {
  const path = join(work, `local-${seq++}`);
  return { dest: await openDestination({ kind: 'local', path }), path };
}
async function s3Dest(port = s3Port): Promise<S3Destination> {
  return (await openDestination({ kind: 's3', endpoint: `http://127.0.0.1:${port}`, region: 'us-east-1', bucket: BUCKET, prefix: `p${seq++}`, accessKeyId: 'S3RVER', secretAccessKey: 'S3RVER', forcePathStyle: true, partSizeMiB: 5 })) as S3Destination;
}
function input(runId: string): RunManifestInput {
  return { runId, policyId: 'pol-1', policyName: 'nightly', nodeId: 'node-1', app: 'shop', source: { kind: 'volume', volume: 'shop-data' }, startedAt: Date.now(), writer: 'podploy-agent test' };
}
async function collect(data: Readable): Promise<{ bytes: Buffer; error?: Error }> {
  const parts: Buffer[] = [];
  try {
    for await (const c of data) parts.push(c as Buffer);
    return { bytes: Buffer.concat(parts) };
  } catch (error) {
    return { bytes: Buffer.concat(parts), error: error as Error };
  }
}
async function filesUnder(path: string): Promise<string[]> {
  return (await readdir(path, { recursive: true, withFileTypes: true }).catch(() => [])).filter((e) => e.isFile()).map((e) => e.name);
}
// The sealed stream's layout: a 52-byte header, then frames of 13 bytes + ciphertext and tag.
function frames(sealed: Buffer): { header: Buffer; frames: Buffer[] } {
  const out: Buffer[] = [];
  for (let at = 52; at < sealed.length; ) {
    const len = sealed.readUInt32BE(at);
    out.push(sealed.subarray(at, at + 13 + len));
    at += 13 + len;
  }
  return { header: sealed.subarray(0, 52), frames: out };
}

describe('runFolder', () => {
  it('is <app|control-plane>/<policy>/<run> and refuses names that could leave it', () => {
    expect(runFolder('pol-1', 'run-1', 'shop')).toBe('shop/pol-1/run-1');
    expect(runFolder('pol-1', 'run-1', null)).toBe('control-plane/pol-1/run-1');
    expect(() => runFolder('..', 'r', 'a')).toThrow(/policy id/);
    expect(() => runFolder('p', 'a/b', 'a')).toThrow(/run id/);
  });
});

describe('a run written to a local folder and S3 at once', () => {
  const size = 7 * MiB + 12_345;
  let written: Awaited<ReturnType<typeof writeBackupRun>>;
  let sourceSha: string;
  let localDest: BackupDestination;
  let s3d: S3Destination;
  const folder = runFolder('pol-1', 'run-rt', 'shop');

  beforeAll(async () => {
    localDest = (await local()).dest;
    s3d = await s3Dest();
    const src = patternSource(size, { seed: 3 });
    const progress: number[] = [];
    written = await writeBackupRun({ source: src.stream, key: KEY, folder, manifest: input('run-rt'), targets: [{ id: 'disk', destination: localDest }, { id: 'minio', destination: s3d }], onProgress: (p) => progress.push(p.plainBytes) });
    sourceSha = src.sha256();
    expect(progress.at(-1)).toBe(size);
  });

  it('records sizes and checksums in the manifest, and both copies', async () => {
    const m = written.manifest;
    expect(m).toMatchObject({ format: 'podploy-backup/1', runId: 'run-rt', policyId: 'pol-1', app: 'shop', plainBytes: size, plainSha256: sourceSha, chunkBytes: BACKUP_CHUNK_BYTES });
    expect(m.finishedAt).toBeGreaterThanOrEqual(m.startedAt);
    expect(written.copies).toEqual([
      { id: 'disk', key: folder, ok: true, error: null },
      { id: 'minio', key: folder, ok: true, error: null },
    ]);
    for (const d of [localDest, s3d]) expect((await d.list(`${folder}/`)).map((o) => o.key)).toEqual([`${folder}/${BACKUP_DATA_OBJECT}`, `${folder}/${BACKUP_MANIFEST_OBJECT}`]);
  });

  it('reads back byte for byte from each destination', async () => {
    for (const destination of [localDest, s3d]) {
      const { manifest, data } = await readBackupRun({ destination, folder, key: KEY });
      expect(manifest).toEqual(written.manifest);
      const { bytes, error } = await collect(data);
      expect(error).toBeUndefined();
      expect(createHash('sha256').update(bytes).digest('hex')).toBe(sourceSha);
    }
  });

  it('refuses a wrong key at the manifest, before any data', async () => {
    const err = await readBackupRun({ destination: s3d, folder, key: randomBytes(32) }).then(() => undefined, (e: unknown) => e);
    expect(err).toBeInstanceOf(BackupIntegrityError);
    expect(err).toMatchObject({ code: 'integrity', detected: 'wrong_key' });
    expect((err as Error).message).toMatch(/sealed with a different key/);
  });

  it('deleteBackupRun removes both objects', async () => {
    const other = runFolder('pol-1', 'run-del', 'shop');
    await writeBackupRun({ source: Readable.from([Buffer.from('x')]), key: KEY, folder: other, manifest: input('run-del'), targets: [{ id: 'minio', destination: s3d }] });
    await deleteBackupRun(s3d, other);
    expect(await s3d.list(`${other}/`)).toEqual([]);
  });
});

describe('damaged backups are refused, and nothing past the damage is released', () => {
  const size = 5 * BACKUP_CHUNK_BYTES + 777;
  let original: Buffer;
  let dest: BackupDestination;
  let root: string;
  let sealed: Buffer;
  const folder = runFolder('pol-1', 'run-dmg', 'shop');
  const dataPath = () => join(root, ...folder.split('/'), BACKUP_DATA_OBJECT);
  const manifestPath = () => join(root, ...folder.split('/'), BACKUP_MANIFEST_OBJECT);

  beforeAll(async () => {
    ({ dest, path: root } = await local());
    original = randomBytes(size);
    await writeBackupRun({ source: Readable.from([original]), key: KEY, folder, manifest: input('run-dmg'), targets: [{ id: 'disk', destination: dest }] });
    sealed = await readFile(dataPath());
    expect(frames(sealed).frames).toHaveLength(6);
  });

  async function readWith(damaged: Buffer): Promise<{ bytes: Buffer; error?: Error }> {
    await writeFile(dataPath(), damaged);
    try {
      const { data } = await readBackupRun({ destination: dest, folder, key: KEY });
      return await collect(data);
    } finally {
      await writeFile(dataPath(), sealed);
    }
  }
  function expectRefused(r: { bytes: Buffer; error?: Error }, detected: string, releasedAtMost: number): void {
    expect(r.error).toBeInstanceOf(BackupIntegrityError);
    expect((r.error as BackupIntegrityError).detected).toBe(detected);
    expect(r.bytes.length).toBeLessThanOrEqual(releasedAtMost);
    expect(r.bytes.equals(original.subarray(0, r.bytes.length))).toBe(true);
  }

  it('an altered byte in chunk #2', async () => {
    const { header, frames: f } = frames(sealed);
    const bad = Buffer.from(f[2]);
    bad[100] ^= 0x40;
    expectRefused(await readWith(Buffer.concat([header, f[0], f[1], bad, ...f.slice(3)])), 'tampered', 2 * BACKUP_CHUNK_BYTES);
  });

  it('chunks #1 and #2 swapped', async () => {
    const { header, frames: f } = frames(sealed);
    expectRefused(await readWith(Buffer.concat([header, f[0], f[2], f[1], ...f.slice(3)])), 'reordered', BACKUP_CHUNK_BYTES);
  });

  it('the final chunk cut off, and a file torn mid-frame', async () => {
    const { header, frames: f } = frames(sealed);
    expectRefused(await readWith(Buffer.concat([header, ...f.slice(0, 5)])), 'truncated', 5 * BACKUP_CHUNK_BYTES);
    expectRefused(await readWith(sealed.subarray(0, sealed.length - 1000)), 'truncated', 5 * BACKUP_CHUNK_BYTES);
  });

  it('an altered header', async () => {
    const bad = Buffer.from(sealed);
    bad[20] ^= 1;
    expectRefused(await readWith(bad), 'tampered', 0);
  });

  it('the data of another run sealed with the same key: the stream errors at the end instead of ending', async () => {
    const otherFolder = runFolder('pol-1', 'run-other', 'shop');
    const other = Buffer.from(original);
    other[size - 1] ^= 1;
    await writeBackupRun({ source: Readable.from([other]), key: KEY, folder: otherFolder, manifest: input('run-other'), targets: [{ id: 'disk', destination: dest }] });
    const r = await readWith(await readFile(join(root, ...otherFolder.split('/'), BACKUP_DATA_OBJECT)));
    expect(r.error).toBeInstanceOf(BackupIntegrityError);
    expect((r.error as BackupIntegrityError).detected).toBe('checksum');
  });

  it('an altered manifest, and a manifest moved from another run', async () => {
    const m = await readFile(manifestPath());
    const bad = Buffer.from(m);
    bad[bad.length - 3] ^= 1;
    await writeFile(manifestPath(), bad);
    await expect(readBackupRun({ destination: dest, folder, key: KEY })).rejects.toMatchObject({ detected: 'tampered' });
    const moved = await sealManifest(KEY, { ...openManifest(KEY, m), runId: 'run-elsewhere' });
    await writeFile(manifestPath(), moved);
    await expect(readBackupRun({ destination: dest, folder, key: KEY })).rejects.toMatchObject({ detected: 'manifest' });
    await writeFile(manifestPath(), m);
    const ok = await collect((await readBackupRun({ destination: dest, folder, key: KEY })).data);
    expect(ok.bytes.equals(original)).toBe(true);
  });
});

describe('a run that fails part-way leaves nothing on any destination', () => {
  it('the source failing mid-way', async () => {
    const a = await local();
    const b = await local();
    const source = new Readable({ read() {} });
    source.push(randomBytes(3 * BACKUP_CHUNK_BYTES));
    setTimeout(() => source.destroy(new Error('tar exited with code 2')), 50);
    const err = (await writeBackupRun({ source, key: KEY, folder: runFolder('pol-1', 'run-src', 'shop'), manifest: input('run-src'), targets: [{ id: 'a', destination: a.dest }, { id: 'b', destination: b.dest }] }).catch((e: unknown) => e)) as BackupWriteError;
    expect(err).toBeInstanceOf(BackupWriteError);
    expect(err.message).toMatch(/tar exited with code 2; nothing of it was left on any destination/);
    expect(err.copies.map((c) => c.ok)).toEqual([false, false]);
    expect(await filesUnder(a.path)).toEqual([]);
    expect(await filesUnder(b.path)).toEqual([]);
  });

  it('S3 becoming unreachable mid-upload: the local copy is removed too, the multipart upload once S3 is back', async () => {
    const r = await relay('127.0.0.1', s3Port);
    try {
      const disk = await local();
      const remote = await s3Dest(r.port);
      const folder = runFolder('pol-1', 'run-cut', 'shop');
      const gate = progressGate(11 * MiB);
      const run = writeBackupRun({ source: patternSource(200 * MiB, { seed: 9 }).stream, key: KEY, folder, manifest: input('run-cut'), targets: [{ id: 'disk', destination: disk.dest }, { id: 'minio', destination: remote }], onProgress: (p) => gate.onProgress(p.sealedBytes) });
      await gate.reached;
      r.down();
      const err = (await run.catch((e: unknown) => e)) as BackupWriteError;
      expect(err).toBeInstanceOf(BackupWriteError);
      expect(err.message).toMatch(/destination minio \(s3:\/\/.*\) failed: .*cannot be reached/);
      expect(err.copies).toEqual([
        { id: 'disk', key: folder, ok: false, error: 'not kept: destination minio failed' },
        { id: 'minio', key: folder, ok: false, error: expect.stringMatching(/cannot be reached/) },
      ]);
      expect(await filesUnder(disk.path)).toEqual([]);
      r.up();
      expect((await remote.test()).ok).toBe(true);
      expect(remote.incompleteUploads).toEqual([]);
      expect(await remote.list('')).toEqual([]);
    } finally {
      await r.close();
    }
  });

  it('the caller cancelling', async () => {
    const a = await local();
    const controller = new AbortController();
    const gate = progressGate(4 * MiB);
    const run = writeBackupRun({ source: patternSource(500 * MiB).stream, key: KEY, folder: runFolder('pol-1', 'run-cancel', 'shop'), manifest: input('run-cancel'), targets: [{ id: 'a', destination: a.dest }], signal: controller.signal, onProgress: (p) => gate.onProgress(p.plainBytes) });
    await gate.reached;
    controller.abort();
    await expect(run).rejects.toThrow(/the backup was cancelled; nothing of it was left/);
    expect(await filesUnder(a.path)).toEqual([]);
  });
});
