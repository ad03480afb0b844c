import { mkdtemp, readdir, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { BackupDestination } from './destination';
import { MiB, patternSource, progressGate, sha256Of, withPeakRss } from './destination-spec-support';
import { DestinationAbortedError, DestinationError, DestinationNotFoundError, InvalidKeyError } from './errors';
import { openDestination } from './open-destination';

let base: string;
let root: string;
let dest: BackupDestination;

beforeEach(async () => {
  base = await mkdtemp(join(tmpdir(), 'podploy-dest-local-'));
  root = join(base, 'backups', 'node-1');
  dest = await openDestination({ kind: 'local', path: root });
});

afterEach(async () => {
  await dest.close();
  await rm(base, { recursive: true, force: true });
});

async function filesUnder(dir: string): Promise<string[]> {
  const entries = await readdir(dir, { recursive: true, withFileTypes: true }).catch(() => []);
  return entries.filter((e) => e.isFile()).map((e) => join(e.parentPath ?? e.path, e.name).slice(dir.length + 1)).sort();
}

describe('local destination (a temp dir)', () => {
  it('round-trips bytes exactly, in a folder created 0700 with files 0600', async () => {
    const src = patternSource(3 * MiB + 17);
    const progress: number[] = [];
    const { bytes } = await dest.put('web/2024/run-1.ppbak', src.stream, { onProgress: (n) => progress.push(n) });
    expect(bytes).toBe(3 * MiB + 17);
    expect(progress.at(-1)).toBe(3 * MiB + 17);
    expect(await sha256Of(await dest.get('web/2024/run-1.ppbak'))).toEqual({ sha256: src.sha256(), bytes: 3 * MiB + 17 });
    expect((await stat(root)).mode & 0o777).toBe(0o700);
    expect((await stat(join(root, 'web'))).mode & 0o777).toBe(0o700);
    expect((await stat(join(root, 'web/2024/run-1.ppbak'))).mode & 0o777).toBe(0o600);
    expect(await filesUnder(root)).toEqual(['web/2024/run-1.ppbak']);
  });

  it('stores an empty backup and replaces an existing key whole', async () => {
    await dest.put('a.bin', Readable.from([]));
    expect((await sha256Of(await dest.get('a.bin'))).bytes).toBe(0);
    const v2 = patternSource(MiB, { seed: 2 });
    await dest.put('a.bin', v2.stream);
    expect((await sha256Of(await dest.get('a.bin'))).sha256).toBe(v2.sha256());
    expect(await filesUnder(root)).toEqual(['a.bin']);
  });

  it('streams 256 MiB with bounded memory', async () => {
    const src = patternSource(256 * MiB);
    const { result, peakGrowthMiB } = await withPeakRss(() => dest.put('big.bin', src.stream));
    expect(result.bytes).toBe(256 * MiB);
    const back = await withPeakRss(() => sha256Of(fsGet('big.bin')));
    console.log(`local: 256 MiB put peak RSS growth ${peakGrowthMiB.toFixed(1)} MiB, get ${back.peakGrowthMiB.toFixed(1)} MiB`);
    expect(back.result.sha256).toBe(src.sha256());
    expect(peakGrowthMiB).toBeLessThan(128);
    expect(back.peakGrowthMiB).toBeLessThan(128);
  });

  it('an abort mid-upload leaves the previous object and no partial file', async () => {
    const v1 = patternSource(MiB, { seed: 1 });
    await dest.put('db/dump.ppbak', v1.stream);
    const controller = new AbortController();
    const gate = progressGate(4 * MiB);
    const stuck = patternSource(64 * MiB, { seed: 2, stallAfter: 8 * MiB });
    const put = dest.put('db/dump.ppbak', stuck.stream, { signal: controller.signal, onProgress: gate.onProgress });
    await gate.reached;
    controller.abort();
    await expect(put).rejects.toBeInstanceOf(DestinationAbortedError);
    expect(stuck.stream.destroyed).toBe(true);
    expect((await sha256Of(await dest.get('db/dump.ppbak'))).sha256).toBe(v1.sha256());
    expect(await filesUnder(root)).toEqual(['db/dump.ppbak']);
  });

  it('a source that fails mid-way stores nothing under the key', async () => {
    async function* failing() {
      yield Buffer.alloc(MiB, 1);
      throw new Error('the sealer failed');
    }
    await expect(dest.put('x/y.bin', Readable.from(failing()))).rejects.toThrow(/cannot store x\/y.bin .*the sealer failed/);
    await expect(dest.get('x/y.bin')).rejects.toBeInstanceOf(DestinationNotFoundError);
    expect(await filesUnder(root)).toEqual([]);
  });

  it('refuses keys that would leave the folder or look like partial uploads', async () => {
    await writeFile(join(base, 'outside.txt'), 'keep');
    for (const key of ['../outside.txt', 'a/../../outside.txt', '/etc/passwd', 'a//b', 'a/./b', '', 'a\\..\\b', 'x.partial-123', 'a/']) {
      await expect(dest.put(key, Readable.from([Buffer.from('x')])), key).rejects.toBeInstanceOf(InvalidKeyError);
      await expect(dest.get(key), key).rejects.toBeInstanceOf(InvalidKeyError);
      await expect(dest.delete(key), key).rejects.toBeInstanceOf(InvalidKeyError);
    }
    await expect(dest.list('../')).rejects.toBeInstanceOf(InvalidKeyError);
    expect(await filesUnder(base)).toEqual(['outside.txt']);
  });

  it('lists by prefix with sizes and dates, skips partial files, deletes and prunes empty folders', async () => {
    for (const [key, size] of [['web/2024-01/a.ppbak', 10], ['web/2024-02/b.ppbak', 20], ['db/c.ppbak', 30], ['webhooks/d.ppbak', 40]] as const) {
      await dest.put(key, Readable.from([Buffer.alloc(size, 7)]));
    }
    // what an agent killed mid-upload leaves behind
    await writeFile(join(root, 'web/2024-02/e.ppbak.partial-abcdef'), 'half');
    const all = await dest.list();
    expect(all.map((o) => [o.key, o.size])).toEqual([
      ['db/c.ppbak', 30],
      ['web/2024-01/a.ppbak', 10],
      ['web/2024-02/b.ppbak', 20],
      ['webhooks/d.ppbak', 40],
    ]);
    expect(all.every((o) => o.modifiedAt instanceof Date && Math.abs(o.modifiedAt.getTime() - Date.now()) < 3_600_000)).toBe(true);
    expect((await dest.list('web/')).map((o) => o.key)).toEqual(['web/2024-01/a.ppbak', 'web/2024-02/b.ppbak']);
    expect((await dest.list('web')).map((o) => o.key)).toEqual(['web/2024-01/a.ppbak', 'web/2024-02/b.ppbak', 'webhooks/d.ppbak']);
    expect((await dest.list('web/2024-0')).map((o) => o.key)).toEqual(['web/2024-01/a.ppbak', 'web/2024-02/b.ppbak']);
    expect(await dest.list('nothing/')).toEqual([]);
    await dest.delete('web/2024-01/a.ppbak');
    await dest.delete('web/2024-01/a.ppbak');
    expect((await dest.list('web/')).map((o) => o.key)).toEqual(['web/2024-02/b.ppbak']);
    expect(await readdir(join(root, 'web'))).toEqual(['2024-02']);
    await expect(dest.get('web/2024-01/a.ppbak')).rejects.toBeInstanceOf(DestinationNotFoundError);
    // Deleting a key that never completed removes what its dead upload left, and the folder.
    await dest.delete('web/2024-02/e.ppbak');
    expect(await readdir(join(root, 'web/2024-02'))).toEqual(['b.ppbak']);
    await dest.delete('web/2024-02/b.ppbak');
    expect(await readdir(join(root, 'web')).catch(() => 'gone')).toBe('gone');
  });

  it('test() probes a good folder and leaves nothing behind', async () => {
    const result = await dest.test();
    expect(result.ok).toBe(true);
    expect(result.detail).toContain(root);
    expect(await filesUnder(root)).toEqual([]);
  });

  it('test() on a folder that cannot exist fails at the "reach" step and says why', async () => {
    await writeFile(join(base, 'a-file'), 'x');
    const bad = await openDestination({ kind: 'local', path: join(base, 'a-file', 'backups') });
    const err = await bad.test().then(
      () => null,
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(DestinationError);
    expect((err as DestinationError).step).toBe('reach');
    expect((err as DestinationError).message).toMatch(/a-file\/backups.*check that the disk is mounted/);
  });
});

function fsGet(key: string): Readable {
  return Readable.from(
    (async function* () {
      yield* await dest.get(key);
    })(),
  );
}
