// Volume backups and restores against a REAL rootful Podman REST socket started here, with the
// local test app image (busybox: tar, sleep, stat, sha256sum). Cleans up what it made.
import type { ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { Readable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PodmanClient } from '../../podman/client';
import { createContainer, inspectContainer, listContainers, podployLabels, removeContainer, startContainer } from '../../podman/containers';
import { runExec } from '../../podman/exec';
import { startPodmanService, stopPodmanService } from '../../podman/podman-test-service';
import { findVolume, removeVolume } from '../../podman/volumes';
import { SourceCommandError } from './exec-process';
import { removeVolumeHelper, startVolumeHelper, VOLUME_HELPER_LABEL } from './volume-helper';
import { openVolumeBackup, restoreVolume } from './volume-source';

const TEST_APP = 'localhost/podploy-test-app:latest';
const run = randomBytes(4).toString('hex');
const APP = `ppsrc-${run}`;
const socket = `/tmp/pp-podman-src-${run}.sock`;
const podman = new PodmanClient(socket);
const DATA = `${APP}-data`;
const WEB = `${APP}-web`;
const BIG_FILE_MIB = 200;
const volumes: string[] = [DATA];
let service: ChildProcess | undefined;

// One line per entry: kind, path, mode, owner, size and sha256 (files) or target (symlinks).
const MANIFEST = `cd /data && find . | sort | while IFS= read -r f; do
  if [ -L "$f" ]; then echo "L $f -> $(readlink "$f") $(stat -c '%u:%g' "$f")";
  elif [ -d "$f" ]; then echo "D $f $(stat -c '%a %u:%g' "$f")";
  else echo "F $f $(stat -c '%a %u:%g %s' "$f") $(sha256sum < "$f" | cut -d' ' -f1)"; fi; done`;

async function inHelper(volume: string, script: string, readOnly = true): Promise<string> {
  const helper = await startVolumeHelper(podman, { image: TEST_APP, volume, readOnly });
  try {
    const r = await runExec(podman, helper, ['sh', '-c', script], { user: '0', timeoutMs: 120_000, maxOutputBytes: 1024 * 1024 });
    if (r.exitCode !== 0) throw new Error(`helper script failed (${r.exitCode}): ${r.stderr}`);
    return r.stdout;
  } finally {
    await removeVolumeHelper(podman, helper);
  }
}

const manifest = (volume: string) => inHelper(volume, MANIFEST);
const helpersLeft = async () => (await listContainers(podman, { labels: { [VOLUME_HELPER_LABEL]: true } })).map((c) => c.name);
const state = async (name: string) => (await inspectContainer(podman, name)).state;
const newVolume = (what: string) => {
  const name = `${APP}-${what}`;
  volumes.push(name);
  return name;
};

function firstChunk(stream: Readable): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    stream.once('data', (c: Buffer) => {
      stream.pause();
      resolve(c);
    });
    stream.once('error', reject);
  });
}
const closed = (stream: Readable) => new Promise<void>((r) => (stream.closed ? r() : stream.once('close', () => r())));

beforeAll(async () => {
  service = await startPodmanService(socket);
  await createContainer(podman, {
    name: WEB,
    image: TEST_APP,
    labels: podployLabels({ app: APP, release: 'r1', slot: 'a' }),
    volumes: [{ name: DATA, destination: '/data' }],
    stopGraceSeconds: 1,
  });
  await startContainer(podman, WEB);
  await inHelper(
    DATA,
    `set -e; cd /data
     printf 'plain\\n' > plain.txt
     printf 'spaces\\n' > 'with spaces  and "quotes"'
     printf 'unicode\\n' > 'héllo-wörld-✓'
     printf 'dash\\n' > ./-leading-dash
     printf 'star\\n' > 'st*r?'
     printf 'secret\\n' > private; chmod 600 private
     printf '#!/bin/sh\\n' > tool; chmod 4755 tool
     mkdir -p empty-dir nested/deeper; chmod 750 nested; printf 'deep\\n' > nested/deeper/file
     chown 1234:5678 nested/deeper/file
     ln -s nested/deeper/file link-to-file; ln -s /nowhere dangling-link
     touch .hidden ..double-dot
     head -c ${BIG_FILE_MIB * 1024 * 1024} /dev/urandom > big.bin`,
    false,
  );
}, 180_000);

afterAll(async () => {
  for (const name of await helpersLeft().catch(() => [])) await removeContainer(podman, name, { force: true, ignoreMissing: true }).catch(() => undefined);
  await stopPodmanService(service, socket, {
    app: APP,
    beforeStop: async () => {
      for (const v of volumes) await removeVolume(podman, v, { force: true, ignoreMissing: true }).catch(() => undefined);
    },
  });
}, 60_000);

describe('volume backup and restore', () => {
  it('reads a volume whose entries all belong to the agent user with tar on the node (no helper), with the same result', async () => {
    const own = newVolume('own');
    const copy = newVolume('own-copy');
    await inHelper(
      own,
      `set -e; cd /data; printf 'a\\n' > 'odd name ✓'; mkdir -p d/e; printf '#!/bin/sh\\n' > d/tool; chmod 4755 d/tool
       ln -s d/tool link; head -c 3000000 /dev/urandom > d/e/blob; chmod 600 d/e/blob`,
      false,
    );
    const backup = await openVolumeBackup(podman, { volume: own });
    expect(await helpersLeft()).toEqual([]);
    await restoreVolume(podman, backup, { volume: copy, image: TEST_APP });
    expect(await manifest(copy)).toBe(await manifest(own));
    // DATA has a file of another owner (1234:5678): that one goes through a helper container.
    const mixed = await openVolumeBackup(podman, { volume: DATA });
    expect((await helpersLeft()).length).toBe(1);
    mixed.destroy();
    await closed(mixed);
    expect(await helpersLeft()).toEqual([]);
  });

  it('backs up a running app volume and restores it into a new volume byte for byte, in bounded memory', async () => {
    const copy = newVolume('copy');
    const before = await manifest(DATA);
    expect(before).toContain(`F ./big.bin 644 0:0 ${BIG_FILE_MIB * 1024 * 1024} `);
    expect(before).toContain('F ./tool 4755 0:0');
    expect(before).toContain('F ./nested/deeper/file 644 1234:5678');
    expect(before).toContain('L ./dangling-link -> /nowhere');
    expect(before).toContain('D ./empty-dir 755');
    expect(await state(WEB)).toBe('running');

    const rssBefore = process.memoryUsage().rss;
    let rssPeak = rssBefore;
    const sampler = setInterval(() => (rssPeak = Math.max(rssPeak, process.memoryUsage().rss)), 20);
    try {
      const backup = await openVolumeBackup(podman, { volume: DATA });
      await restoreVolume(podman, backup, { volume: copy, image: TEST_APP, restoredFrom: 'run-1' });
    } finally {
      clearInterval(sampler);
    }
    const growthMiB = (rssPeak - rssBefore) / 1024 / 1024;
    console.log(`volume round trip of ${BIG_FILE_MIB} MiB+: RSS growth ${growthMiB.toFixed(1)} MiB`);
    expect(growthMiB).toBeLessThan(BIG_FILE_MIB / 2);

    expect(await manifest(copy)).toBe(before);
    expect((await findVolume(podman, copy))?.labels['podploy.restored-from']).toBe('run-1');
    expect(await state(WEB)).toBe('running');
    expect(await helpersLeft()).toEqual([]);
  });

  it('pauses the containers using the volume while it is read and unpauses them at the end', async () => {
    const backup = await openVolumeBackup(podman, { volume: DATA, pause: true });
    await firstChunk(backup);
    expect(await state(WEB)).toBe('paused');
    backup.resume();
    let bytes = 0;
    for await (const c of backup) bytes += (c as Buffer).length;
    expect(bytes).toBeGreaterThan(BIG_FILE_MIB * 1024 * 1024);
    expect(await state(WEB)).toBe('running');
    expect(await helpersLeft()).toEqual([]);
  });

  it('unpauses and removes its helper when the stream is aborted mid-way', async () => {
    const backup = await openVolumeBackup(podman, { volume: DATA, pause: true });
    await firstChunk(backup);
    expect(await state(WEB)).toBe('paused');
    expect(await helpersLeft()).toHaveLength(1);
    backup.destroy();
    await closed(backup);
    expect(await state(WEB)).toBe('running');
    expect(await helpersLeft()).toEqual([]);
  });

  it('unpauses when tar fails mid-way (killed) and says what failed', async () => {
    const backup = await openVolumeBackup(podman, { volume: DATA, pause: true });
    await firstChunk(backup);
    const [helper] = await helpersLeft();
    expect((await runExec(podman, helper!, ['killall', '-KILL', 'tar'], { timeoutMs: 10_000 })).exitCode).toBe(0);
    backup.resume();
    const err = await (async () => {
      for await (const _ of backup) void _;
    })().catch((e: unknown) => e);
    expect(err).toBeInstanceOf(SourceCommandError);
    expect((err as Error).message).toBe(`backup of volume ${DATA} (tar in helper ${helper}) failed with exit code 137`);
    expect(await state(WEB)).toBe('running');
    expect(await helpersLeft()).toEqual([]);
  });

  it('refuses a missing volume without creating it', async () => {
    const missing = `${APP}-missing`;
    const err = await openVolumeBackup(podman, { volume: missing, image: TEST_APP }).catch((e: unknown) => e);
    expect((err as Error).message).toBe(`volume ${missing} does not exist on this node: nothing to back up (check the volume name in the backup policy)`);
    expect(await findVolume(podman, missing)).toBeUndefined();
    expect(await helpersLeft()).toEqual([]);
  });

  it('refuses to restore into an existing volume when a new one is asked for', async () => {
    const input = Readable.from([Buffer.alloc(1024)]);
    const err = await restoreVolume(podman, input, { volume: DATA, image: TEST_APP }).catch((e: unknown) => e);
    expect((err as Error).message).toContain(`restore into new volume ${DATA}: a volume with that name exists`);
    expect(input.destroyed).toBe(true);
    expect(await manifest(DATA)).toContain('F ./big.bin');
  });

  it('replaces an existing volume: files made after the backup are gone', async () => {
    const target = newVolume('replace');
    await restoreVolume(podman, await openVolumeBackup(podman, { volume: DATA }), { volume: target, image: TEST_APP });
    await inHelper(target, 'echo later > /data/made-later; rm /data/plain.txt; mkdir /data/.newdir', false);
    await restoreVolume(podman, await openVolumeBackup(podman, { volume: DATA }), { volume: target, image: TEST_APP, mode: 'replace' });
    expect(await manifest(target)).toBe(await manifest(DATA));
  });

  it('fails on an archive tar cannot read, with its stderr, and removes the new volume', async () => {
    const bad = newVolume('bad');
    const err = await restoreVolume(podman, Readable.from([Buffer.from('this is not a tar archive\n'.repeat(100))]), { volume: bad, image: TEST_APP }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(SourceCommandError);
    expect((err as SourceCommandError).exitCode).not.toBe(0);
    expect((err as Error).message).toMatch(new RegExp(`^restore of volume ${bad} \\(tar in helper .+\\) failed with exit code \\d+; its stderr ends with: tar: `));
    expect(await findVolume(podman, bad)).toBeUndefined();
    expect(await helpersLeft()).toEqual([]);
  });

  it('stops tar (no end-of-input) when its input fails mid-stream, and removes the new volume', async () => {
    const broken = newVolume('broken');
    const backup = await openVolumeBackup(podman, { volume: DATA });
    async function* failingAfter8MiB(): AsyncGenerator<Buffer> {
      let sent = 0;
      for await (const c of backup) {
        sent += (c as Buffer).length;
        if (sent > 8 * 1024 * 1024) throw new Error('decryption failed: chunk 42 altered');
        yield c as Buffer;
      }
    }
    const input = Readable.from(failingAfter8MiB());
    const err = await restoreVolume(podman, input, { volume: broken, image: TEST_APP }).catch((e: unknown) => e);
    backup.destroy();
    await closed(backup);
    expect((err as Error).message).toMatch(/^restore of volume .+: its input failed: decryption failed: chunk 42 altered; the command was stopped before the end of its input$/);
    expect(await findVolume(podman, broken)).toBeUndefined();
    expect(await helpersLeft()).toEqual([]);
  });
});
