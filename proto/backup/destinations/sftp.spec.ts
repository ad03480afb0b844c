// Against test host h12's sshd (internal-sftp), user ppdeploy12; a raw ssh2 SFTP session of the
// spec's own checks what is really on the server. Needs `sudo test/hosts/setup.sh` to have run.
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { posix } from 'node:path';
import { Readable } from 'node:stream';
import { Client, type SFTPWrapper } from 'ssh2';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { loadTestHosts, testHost, type TestHost } from '../../../test/hosts/hosts';
import type { SftpDestinationConfig } from './destination-config';
import { MiB, patternSource, progressGate, relay, sha256Of, withPeakRss, type Relay } from './destination-spec-support';
import {
  DestinationAbortedError,
  DestinationAuthError,
  DestinationError,
  DestinationNotFoundError,
  DestinationUnreachableError,
  HostKeyMismatchError,
  InvalidKeyError,
} from './errors';
import { openDestination } from './open-destination';
import { hostKeyFingerprint, SftpDestination } from './sftp';

const hosts = loadTestHosts();
const h12: TestHost = testHost(hosts, 'h12');
const clientKey = readFileSync(hosts.clientKey, 'utf8');
const wrongKey = readFileSync(hosts.wrongKey, 'utf8');
let fingerprint: string;
let raw: { client: Client; sftp: SFTPWrapper; home: string };
let folder: string;
const opened: SftpDestination[] = [];

function rawCall<T = void>(run: (cb: (err: Error | null | undefined, value: T) => void) => void): Promise<T> {
  return new Promise((resolve, reject) => run((err, value) => (err ? reject(err) : resolve(value))));
}

beforeAll(async () => {
  const client = new Client();
  let seen = '';
  await new Promise<void>((resolve, reject) => {
    client.on('ready', () => resolve()).on('error', reject);
    client.connect({
      host: h12.address,
      port: h12.port,
      username: h12.users.deploy,
      privateKey: clientKey,
      hostVerifier: (key: Buffer) => {
        seen = hostKeyFingerprint(key);
        return true;
      },
    });
  });
  fingerprint = seen;
  const sftp = await rawCall<SFTPWrapper>((cb) => client.sftp(cb));
  raw = { client, sftp, home: await rawCall<string>((cb) => sftp.realpath('.', cb)) };
});

afterAll(() => raw?.client.end());

beforeEach(() => {
  folder = `podploy-dest-spec-${randomBytes(4).toString('hex')}/backups`;
});

afterEach(async () => {
  for (const d of opened.splice(0)) await d.close();
  await removeTree(posix.join(raw.home, folder.split('/')[0]));
});

async function removeTree(path: string): Promise<void> {
  const entries = await rawCall<{ filename: string; attrs: { isDirectory(): boolean } }[]>((cb) => raw.sftp.readdir(path, cb)).catch(() => null);
  if (!entries) return;
  for (const e of entries) {
    const child = posix.join(path, e.filename);
    if (e.attrs.isDirectory()) await removeTree(child);
    else await rawCall((cb) => raw.sftp.unlink(child, cb));
  }
  await rawCall((cb) => raw.sftp.rmdir(path, cb));
}

/** every file under the destination folder, as the server has it */
async function filesOnServer(dir = posix.join(raw.home, folder), rel = ''): Promise<string[]> {
  const entries = await rawCall<{ filename: string; attrs: { isDirectory(): boolean } }[]>((cb) => raw.sftp.readdir(posix.join(dir, rel), cb)).catch(() => []);
  const out: string[] = [];
  for (const e of entries) {
    const key = rel ? `${rel}/${e.filename}` : e.filename;
    if (e.attrs.isDirectory()) out.push(...(await filesOnServer(dir, key)));
    else out.push(key);
  }
  return out.sort();
}

function config(over: Partial<SftpDestinationConfig> = {}): SftpDestinationConfig {
  return { kind: 'sftp', host: h12.address, port: h12.port, user: h12.users.deploy, privateKey: clientKey, folder, hostKeyFingerprint: fingerprint, ...over };
}

async function open(over: Partial<SftpDestinationConfig> = {}): Promise<SftpDestination> {
  const d = (await openDestination(config(over))) as SftpDestination;
  opened.push(d);
  return d;
}

async function failure(p: Promise<unknown>): Promise<DestinationError> {
  const err = await p.then(
    () => null,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(DestinationError);
  return err as DestinationError;
}

describe('SFTP destination (test host h12, internal-sftp)', () => {
  it('round-trips bytes exactly into a folder it creates 0700, files 0600, replacing a key whole', async () => {
    const dest = await open();
    const a = patternSource(3 * MiB + 9, { seed: 1 });
    const progress: number[] = [];
    expect(await dest.put('web/2024/a.ppbak', a.stream, { onProgress: (n) => progress.push(n) })).toEqual({ bytes: 3 * MiB + 9 });
    expect(progress.at(-1)).toBe(3 * MiB + 9);
    expect(await sha256Of(await dest.get('web/2024/a.ppbak'))).toEqual({ sha256: a.sha256(), bytes: 3 * MiB + 9 });
    const folderStat = await rawCall<{ mode: number }>((cb) => raw.sftp.stat(posix.join(raw.home, folder), cb));
    expect(folderStat.mode & 0o777).toBe(0o700);
    const fileStat = await rawCall<{ mode: number }>((cb) => raw.sftp.stat(posix.join(raw.home, folder, 'web/2024/a.ppbak'), cb));
    expect(fileStat.mode & 0o777).toBe(0o600);
    const b = patternSource(MiB, { seed: 2 });
    await dest.put('web/2024/a.ppbak', b.stream);
    expect((await sha256Of(await dest.get('web/2024/a.ppbak'))).sha256).toBe(b.sha256());
    await dest.put('empty.ppbak', Readable.from([]));
    expect((await sha256Of(await dest.get('empty.ppbak'))).bytes).toBe(0);
    expect(await filesOnServer()).toEqual(['empty.ppbak', 'web/2024/a.ppbak']);
  });

  it('streams 256 MiB with bounded memory', async () => {
    const dest = await open();
    const src = patternSource(256 * MiB);
    const put = await withPeakRss(() => dest.put('big.bin', src.stream));
    const get = await withPeakRss(async () => sha256Of(await dest.get('big.bin')));
    console.log(`sftp: 256 MiB put peak RSS growth ${put.peakGrowthMiB.toFixed(1)} MiB, get ${get.peakGrowthMiB.toFixed(1)} MiB`);
    expect(put.result.bytes).toBe(256 * MiB);
    expect(get.result.sha256).toBe(src.sha256());
    expect(put.peakGrowthMiB).toBeLessThan(128);
    expect(get.peakGrowthMiB).toBeLessThan(128);
  }, 180_000);

  it('an abort mid-upload leaves the previous object and no partial file on the server', async () => {
    const dest = await open();
    const v1 = patternSource(MiB, { seed: 1 });
    await dest.put('db/dump.ppbak', v1.stream);
    const controller = new AbortController();
    const gate = progressGate(4 * MiB);
    const stuck = patternSource(64 * MiB, { seed: 2, stallAfter: 8 * MiB });
    const put = dest.put('db/dump.ppbak', stuck.stream, { signal: controller.signal, onProgress: gate.onProgress });
    await gate.reached;
    controller.abort();
    expect(await failure(put)).toBeInstanceOf(DestinationAbortedError);
    expect(stuck.stream.destroyed).toBe(true);
    expect((await sha256Of(await dest.get('db/dump.ppbak'))).sha256).toBe(v1.sha256());
    expect(await filesOnServer()).toEqual(['db/dump.ppbak']);
  });

  describe('through a relay that can be cut', () => {
    let r: Relay;
    beforeEach(async () => {
      r = await relay(h12.address, h12.port);
    });
    afterEach(async () => {
      await r.close();
    });

    it('the connection dropping mid-upload fails the put; the partial file is removed on the next use', async () => {
      const dest = await open({ host: '127.0.0.1', port: r.port });
      const gate = progressGate(8 * MiB);
      const src = patternSource(512 * MiB, { seed: 3 });
      const put = dest.put('vol/data.ppbak', src.stream, { onProgress: gate.onProgress });
      await gate.reached;
      r.down();
      const err = await failure(put);
      expect(err).toBeInstanceOf(DestinationUnreachableError);
      expect(err.message).toMatch(/cannot store vol\/data.ppbak .*connection to the server was lost.*is removed on the next use/);
      expect(dest.leftoverPartials).toHaveLength(1);
      const left = await filesOnServer();
      expect(left).toHaveLength(1);
      expect(left[0]).toMatch(/^vol\/data\.ppbak\.partial-[0-9a-f]{12}$/);
      expect(await failure(dest.list())).toBeInstanceOf(DestinationUnreachableError);
      r.up();
      expect((await dest.list()).map((o) => o.key)).toEqual([]);
      expect((await dest.test()).ok).toBe(true);
      expect(dest.leftoverPartials).toEqual([]);
      expect(await filesOnServer()).toEqual([]);
    });
  });

  it('refuses a server whose host key does not match, naming the key it saw', async () => {
    const other = `SHA256:${randomBytes(32).toString('base64').replace(/=+$/, '')}`;
    const err = await failure((await open({ hostKeyFingerprint: other })).test());
    expect(err).toBeInstanceOf(HostKeyMismatchError);
    expect(err.step).toBe('authenticate');
    expect((err as HostKeyMismatchError).seenFingerprint).toBe(fingerprint);
    expect(err.message).toContain(`host key is ${fingerprint}, not the configured ${other}`);
  });

  it('wrong credentials fail at "authenticate" without showing them', async () => {
    const byKey = await failure((await open({ privateKey: wrongKey })).test());
    expect(byKey).toBeInstanceOf(DestinationAuthError);
    expect(byKey.step).toBe('authenticate');
    const byPassword = await failure((await open({ privateKey: undefined, password: 'not-the-password-91c' })).test());
    expect(byPassword).toBeInstanceOf(DestinationAuthError);
    expect(byPassword.message).toMatch(/refused the login of ppdeploy12.*check the user and its private key or password/);
    expect(byPassword.message).not.toContain('not-the-password-91c');
    expect(byKey.message).not.toContain('PRIVATE KEY');
  });

  it('refuses ".." and other bad keys', async () => {
    const dest = await open();
    for (const key of ['../escape', 'a/../../b', '/etc/passwd', 'a//b', 'z.partial-1']) {
      await expect(dest.put(key, Readable.from([Buffer.from('x')])), key).rejects.toBeInstanceOf(InvalidKeyError);
      await expect(dest.get(key), key).rejects.toBeInstanceOf(InvalidKeyError);
      await expect(dest.delete(key), key).rejects.toBeInstanceOf(InvalidKeyError);
    }
    await dest.test();
    expect(await filesOnServer(posix.join(raw.home, folder.split('/')[0]))).toEqual([]);
  });

  it('lists by prefix, skips partial files, deletes and prunes empty folders', async () => {
    const dest = await open();
    for (const [key, size] of [['web/2024-01/a.ppbak', 10], ['web/2024-02/b.ppbak', 20], ['db/c.ppbak', 30], ['webhooks/d.ppbak', 40]] as const) {
      await dest.put(key, Readable.from([Buffer.alloc(size, 7)]));
    }
    await rawCall((cb) => raw.sftp.writeFile(posix.join(raw.home, folder, 'db/e.ppbak.partial-0123456789ab'), 'half', cb));
    expect((await dest.list()).map((o) => [o.key, o.size])).toEqual([
      ['db/c.ppbak', 30],
      ['web/2024-01/a.ppbak', 10],
      ['web/2024-02/b.ppbak', 20],
      ['webhooks/d.ppbak', 40],
    ]);
    expect((await dest.list('web/')).map((o) => o.key)).toEqual(['web/2024-01/a.ppbak', 'web/2024-02/b.ppbak']);
    expect((await dest.list('web')).map((o) => o.key)).toEqual(['web/2024-01/a.ppbak', 'web/2024-02/b.ppbak', 'webhooks/d.ppbak']);
    const [first] = await dest.list('db/');
    expect(Math.abs(first.modifiedAt.getTime() - Date.now())).toBeLessThan(3_600_000);
    await dest.delete('web/2024-01/a.ppbak');
    await dest.delete('web/2024-01/a.ppbak');
    expect(await filesOnServer()).toEqual(['db/c.ppbak', 'db/e.ppbak.partial-0123456789ab', 'web/2024-02/b.ppbak', 'webhooks/d.ppbak']);
    const webDir = await rawCall<{ filename: string }[]>((cb) => raw.sftp.readdir(posix.join(raw.home, folder, 'web'), cb));
    expect(webDir.map((e) => e.filename)).toEqual(['2024-02']);
    await expect(dest.get('web/2024-01/a.ppbak')).rejects.toBeInstanceOf(DestinationNotFoundError);
  });

  it('test() passes on a good config, leaving nothing; an unreachable port fails at "reach"', async () => {
    const dest = await open();
    const result = await dest.test();
    expect(result.ok).toBe(true);
    expect(result.detail).toContain(`sftp://ppdeploy12@${h12.address}:${h12.port}/${folder}`);
    expect(await filesOnServer()).toEqual([]);
    const closed = await relay(h12.address, h12.port);
    const deadPort = closed.port;
    await closed.close();
    const err = await failure((await open({ host: '127.0.0.1', port: deadPort })).test());
    expect(err).toBeInstanceOf(DestinationUnreachableError);
    expect(err.step).toBe('reach');
    expect(err.message).toMatch(/cannot connect .*ECONNREFUSED.*check the host, the port and that sshd runs/);
  });
});
