// Backups end to end on test host h12: the real control plane and CLI, the agent over SSH + mTLS,
// rootless Podman, and three real destinations: a folder on the node, an S3 server (s3rver, a
// real S3-protocol server from npm, listening on the host side of h12's network) and SFTP to the
// test host's own sshd. Restores are checked byte by byte (every file's sha256) and row by row.
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, Socket, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import S3rver from 's3rver';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ApiError, type BackupRunSummary } from '../../src-main/api/contract';
import { prepareAppHost, type AppHost } from '../support/app-host';
import { CLI, operator, readPid, ROOT, sh, startHarness, waitFor } from '../support/harness';
import { launchUi, LoginPage, screenshot } from '../support/ui-pages';

const PG_IMAGE = 'localhost/podploy-test-postgres:latest';

const NODE = 'h12';
const APP = 'vault';
const VOLUME = 'vault-data';
const PG_APP = 'ledger';
const S3_PORT = 19_300 + Math.floor(Math.random() * 500);
const S3_BUCKET = 'podploy-backups';
const S3_KEY = { accessKeyId: 'S3RVER', secretAccessKey: 'S3RVER' };
let x: AppHost;
let s3: S3rver;
let s3Dir: string;
let gateway: string;
// A TCP relay in front of s3rver that a test can cut mid-upload.
let relay: { server: Server; port: number; cut(): void; sockets: Set<Socket> };

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function containerOf(app: string): string {
  return x.onHost(`podman ps --filter label=podploy.app=${app} --format '{{.Names}}'`).trim().split('\n')[0];
}

// sha256 and mode of every file in a volume, as a sorted listing (read by a throw-away container).
function volumeListing(volume: string): string {
  return x.onHost(
    `podman run --rm -v ${volume}:/data:ro localhost/podploy-test-app:latest sh -c 'cd /data && find . -type f -exec sha256sum {} + | sort; find . -printf "%p %m %y\\n" 2>/dev/null | sort || find . | sort'`,
  );
}

function startRelay(targetPort: number, host: string, port = 0): Promise<typeof relay> {
  const sockets = new Set<Socket>();
  const server = createServer((client) => {
    const upstream = new Socket();
    sockets.add(client).add(upstream);
    upstream.connect(targetPort, '127.0.0.1');
    client.pipe(upstream).pipe(client);
    const drop = () => {
      client.destroy();
      upstream.destroy();
      sockets.delete(client);
      sockets.delete(upstream);
    };
    client.on('error', drop).on('close', drop);
    upstream.on('error', drop).on('close', drop);
  });
  return new Promise((resolve) =>
    server.listen(port, host, () => {
      const port = (server.address() as { port: number }).port;
      resolve({
        server,
        port,
        sockets,
        cut() {
          for (const s of sockets) s.destroy();
          server.close();
        },
      });
    }),
  );
}

async function runPolicy(policy: string): Promise<BackupRunSummary> {
  return x.hx.cp.router.invoke('backups.run', { policy }, operator);
}

beforeAll(async () => {
  // The test PostgreSQL image, built for root's Podman, copied into the node user's (before the
  // host is prepared: its reset ends the Podman processes runuser started here).
  const user = `ppdeploy${NODE.slice(1)}`;
  sh(`${join(ROOT, 'test', 'images', 'build-test-postgres.sh')} >/dev/null`);
  sh(`podman save ${PG_IMAGE} | runuser -u ${user} -- sh -c 'cd /; podman load -q' >/dev/null`);
  sh(`rm -rf /home/${user}/backups /home/${user}/sftp-backups`);
  x = await prepareAppHost(NODE);
  x.buildVersion('v1');
  gateway = `10.213.${NODE.slice(1)}.1`;
  s3Dir = mkdtempSync(join(tmpdir(), 'pp-s3rver-'));
  s3 = new S3rver({ port: S3_PORT, address: '127.0.0.1', silent: true, directory: s3Dir, configureBuckets: [{ name: S3_BUCKET, configs: [] }] });
  await s3.run();
  relay = await startRelay(S3_PORT, gateway);

  const r = await x.hx.cli(['app', 'create', APP, '--node', NODE, '--image', 'localhost/testapp:v1', '--domain', 'vault.test', '--volume', `${VOLUME}:/data`]);
  expect(r.code, r.stderr).toBe(0);
  const d = await x.hx.cli(['deploy', APP]);
  expect(d.code, d.stderr).toBe(0);
  // Odd names, modes, a symlink, an empty folder and 24 MiB of random bytes.
  x.onHost(
    `podman exec ${containerOf(APP)} sh -c 'cd /data && mkdir -p "dir with space/empty" sub && printf hello > "dir with space/héllo.txt" && chmod 640 "dir with space/héllo.txt" && head -c 25165824 /dev/urandom > sub/blob.bin && ln -s sub/blob.bin link && printf "%s" "${randomBytes(8).toString('hex')}" > .hidden'`,
  );
}, 300_000);

afterAll(async () => {
  relay?.cut();
  await s3?.close().catch(() => undefined);
  if (s3Dir) rmSync(s3Dir, { recursive: true, force: true });
  await x?.close();
});

describe('destinations', () => {
  it('adds a folder on the node, S3 and SFTP, and each passes "test connection" from the node', async () => {
    const fingerprint = execFileSync('bash', ['-c', `ssh-keyscan -p ${x.host.port} -t ed25519 ${x.host.address} 2>/dev/null | ssh-keygen -lf - | awk '{print $2}'`], { encoding: 'utf8' }).trim();
    await x.hx.cp.router.invoke('backups.destinations.set', { kind: 'local', name: 'node-disk', path: `/home/${x.user}/backups` }, operator);
    await x.hx.cp.router.invoke(
      'backups.destinations.set',
      { kind: 's3', name: 'minio', endpoint: `http://${gateway}:${relay.port}`, region: 'us-east-1', bucket: S3_BUCKET, forcePathStyle: true, ...S3_KEY },
      operator,
    );
    await x.hx.cp.router.invoke(
      'backups.destinations.set',
      { kind: 'sftp', name: 'offsite', host: x.host.address, port: x.host.port, user: x.user, folder: 'sftp-backups', hostKeyFingerprint: fingerprint, privateKey: readFileSync(x.clientKey, 'utf8') },
      operator,
    );
    for (const name of ['node-disk', 'minio', 'offsite']) {
      const t = await x.hx.cp.router.invoke('backups.destinations.test', { name, node: NODE }, operator);
      expect(t, name).toMatchObject({ ok: true });
    }
    // Secret settings are listed by name only.
    const listed = await x.hx.cp.router.invoke('backups.destinations.list', {}, operator);
    const minio = listed.find((d) => d.name === 'minio')!;
    expect(minio.secrets).toEqual(['secretAccessKey']);
    expect(Object.keys(minio.settings)).not.toContain('secretAccessKey');
    expect(listed.find((d) => d.name === 'offsite')!.secrets).toEqual(['privateKey']);
    expect(JSON.stringify(listed)).not.toContain('PRIVATE KEY');
  });

  it('names the step that failed for a destination that is wrong', async () => {
    await x.hx.cp.router.invoke('backups.destinations.set', { kind: 's3', name: 'nowhere', endpoint: `http://${gateway}:1`, bucket: S3_BUCKET, forcePathStyle: true, ...S3_KEY }, operator);
    const t = await x.hx.cp.router.invoke('backups.destinations.test', { name: 'nowhere', node: NODE }, operator);
    expect(t.ok).toBe(false);
    expect(t.message).toMatch(/reach|connect|unreachable/i);
    await x.hx.cp.router.invoke('backups.destinations.remove', { name: 'nowhere' }, operator);
  });
});

describe('a volume, backed up and restored', () => {
  let run: BackupRunSummary;

  it('refuses an invalid cron expression with the reason, and changes nothing', async () => {
    const err = await x.hx.cp.router
      .invoke('backups.policies.set', { name: 'bad-cron', app: APP, source: { kind: 'volume', volume: VOLUME }, schedules: ['61 3 * * *'], destinations: ['node-disk'] }, operator)
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ApiError);
    expect((err as ApiError).code).toBe('invalid_input');
    expect((err as ApiError).message).toContain('Invalid value for minute: 61');
    const cli = await x.hx.cli(['backup', 'policy', 'set', 'bad-cron', '--app', APP, '--volume', VOLUME, '--schedule', '* * *', '--to', 'node-disk']);
    expect(cli.code).toBe(2);
    expect(cli.stderr).toMatch(/exactly five, six, or seven/);
    expect(await x.hx.cp.router.invoke('backups.policies.list', {}, operator)).toEqual([]);
  });

  it('backs up a running app volume to all three destinations, encrypted, with the app serving throughout', async () => {
    const policy = await x.hx.cp.router.invoke(
      'backups.policies.set',
      { name: 'vault-daily', app: APP, source: { kind: 'volume', volume: VOLUME }, schedules: ['0 3 * * *'], destinations: ['node-disk', 'minio', 'offsite'] },
      operator,
    );
    expect(policy.nextRuns.length).toBeGreaterThan(0);
    expect(policy.pushed).toBe(true);
    run = await runPolicy('vault-daily');
    expect(run).toMatchObject({ status: 'ok', trigger: 'manual' });
    expect(run.copies.map((c) => c.ok)).toEqual([true, true, true]);
    expect(run.plainBytes).toBeGreaterThan(24 * 1024 * 1024);
    expect((await x.get('vault.test', '/version')).status).toBe(200);
    // Nothing of the volume in plain text at any destination.
    const marker = x.onHost(`podman exec ${containerOf(APP)} cat /data/.hidden`).trim();
    expect(sh(`grep -rlaF -- '${marker}' /home/${x.user}/backups /home/${x.user}/sftp-backups ${s3Dir} || true`).trim()).toBe('');
  });

  it('restores into a new volume with every file identical', async () => {
    const restored = await x.hx.cp.router.invoke('backups.restore', { run: run.id, destination: 'minio', target: 'vault-copy' }, operator);
    expect(restored).toMatchObject({ mode: 'new', target: 'vault-copy' });
    expect(volumeListing('vault-copy')).toBe(volumeListing(VOLUME));
  });

  it('refuses a corrupted and a truncated backup on restore, and leaves nothing behind', async () => {
    const data = sh(`find /home/${x.user}/backups -path '*${run.id}*' -name data.sealed`).trim();
    expect(data).not.toBe('');
    const original = readFileSync(data);
    try {
      const flipped = Buffer.from(original);
      flipped[Math.floor(flipped.length / 3)] ^= 0x10;
      writeFileSync(data, flipped);
      const bad = await x.hx.cp.router.invoke('backups.restore', { run: run.id, destination: 'node-disk', target: 'vault-bad' }, operator).catch((e: unknown) => e);
      expect((bad as ApiError).code).toBe('integrity');
      writeFileSync(data, original.subarray(0, Math.floor(original.length / 2)));
      const cut = await x.hx.cp.router.invoke('backups.restore', { run: run.id, destination: 'node-disk', target: 'vault-cut' }, operator).catch((e: unknown) => e);
      expect((cut as ApiError).code).toBe('integrity');
      expect(x.onHost(`podman volume ls --format '{{.Name}}'`)).not.toMatch(/vault-bad|vault-cut/);
    } finally {
      writeFileSync(data, original);
      sh(`chown ${x.user}: '${data}'`);
    }
  });

  it('restores over the app own volume after confirmation: stopped, restored, redeployed', async () => {
    x.onHost(`podman exec ${containerOf(APP)} sh -c 'rm -rf /data/sub && echo changed > /data/new-file'`);
    const unconfirmed = await x.hx.cp.router.invoke('backups.restore', { run: run.id, mode: 'over' }, operator).catch((e: unknown) => e);
    expect((unconfirmed as ApiError).code).toBe('conflict');
    const releasesBefore = (await x.hx.cp.router.invoke('apps.releases', { name: APP }, operator)).length;
    const r = await x.hx.cp.router.invoke('backups.restore', { run: run.id, mode: 'over', confirm: true }, operator);
    expect(r.mode).toBe('over');
    expect(volumeListing(VOLUME)).toBe(volumeListing('vault-copy'));
    expect((await x.hx.cp.router.invoke('apps.releases', { name: APP }, operator)).length).toBeGreaterThan(releasesBefore);
    await waitFor('the app serving again', async () => (await x.get('vault.test', '/version')).status === 200, 60_000);
  });
});

describe('a PostgreSQL database, dumped and restored', () => {
  const rows = (db: string) =>
    x.onHost(`podman exec ${containerOf(PG_APP)} psql -U postgres -d ${db} -Atc "SELECT count(*), md5(string_agg(id::text || ':' || note, ',' ORDER BY id)) FROM entries"`).trim();

  it('dumps a live database and restores it into a new one with the same rows', async () => {
    // Postgres on its unix socket; busybox httpd answers the deploy's health check.
    const command = ['sh', '-c', 'mkdir -p /tmp/www && echo ok > /tmp/www/index.html && busybox httpd -p 8080 -h /tmp/www && exec /usr/bin/podploy-postgres'];
    await x.hx.cp.router.invoke('apps.create', { spec: { name: PG_APP, node: NODE, source: { kind: 'image', image: PG_IMAGE }, command, domains: ['ledger.test'], health: { path: '/' } } }, operator);
    await x.hx.cp.router.invoke('apps.deploy', { name: PG_APP }, operator);
    await waitFor('postgres ready', () => {
      try {
        return x.onHost(`podman exec ${containerOf(PG_APP)} pg_isready -h /run/postgresql`).includes('accepting');
      } catch {
        return false;
      }
    }, 60_000, 500);
    x.onHost(
      `podman exec ${containerOf(PG_APP)} psql -U postgres -c "CREATE DATABASE ledger" && podman exec ${containerOf(PG_APP)} psql -U postgres -d ledger -c "CREATE TABLE entries (id int PRIMARY KEY, note text); INSERT INTO entries SELECT g, 'note ' || md5(g::text) FROM generate_series(1, 20000) g"`,
    );
    const before = rows('ledger');
    expect(before).toMatch(/^20000\|/);
    await x.hx.cp.router.invoke('backups.policies.set', { name: 'ledger-db', app: PG_APP, source: { kind: 'postgres', database: 'ledger', user: 'postgres' }, destinations: ['node-disk', 'offsite'] }, operator);
    const run = await runPolicy('ledger-db');
    expect(run.status).toBe('ok');
    const r = await x.hx.cp.router.invoke('backups.restore', { run: run.id, destination: 'offsite', target: 'ledger_copy' }, operator);
    expect(r.target).toBe('ledger_copy');
    expect(rows('ledger_copy')).toBe(before);
  });
});

describe('faults', () => {
  it('a destination cut mid-upload fails the run cleanly: no partial objects, the app still serving, the failure surfaced', async () => {
    await x.hx.cp.router.invoke(
      'backups.policies.set',
      { name: 'vault-s3', app: APP, source: { kind: 'volume', volume: VOLUME }, destinations: ['minio'], retryAttempts: 0 },
      operator,
    );
    const running = x.hx.cp.router.invoke('backups.run', { policy: 'vault-s3' }, operator).catch((e: unknown) => e);
    await waitFor('the upload under way', () => relay.sockets.size > 0, 30_000, 10);
    await sleep(150);
    relay.cut();
    const failed = await running;
    const run = failed instanceof ApiError ? (await x.hx.cp.router.invoke('backups.runs', { policy: 'vault-s3' }, operator))[0] : (failed as BackupRunSummary);
    expect(run.status).toBe('failed');
    expect(run.error).toBeTruthy();
    expect(sh(`find ${s3Dir} -path '*${run.id}*' -type f | grep -v '_S3rver' || true`).trim()).toBe('');
    expect((await x.get('vault.test', '/version')).status).toBe(200);
    // Back on the same port: the destination's endpoint works again.
    relay = await startRelay(S3_PORT, gateway, relay.port);
  });

  it('the agent killed mid-run: the run is failed and cleaned at the next agent start', async () => {
    await x.hx.cp.router.invoke('backups.policies.set', { name: 'vault-local', app: APP, source: { kind: 'volume', volume: VOLUME }, destinations: ['node-disk'], retryAttempts: 0 }, operator);
    // Big enough that the run is still writing when the agent dies: killed once its upload is under way.
    x.onHost(`podman exec ${containerOf(APP)} sh -c 'head -c 419430400 /dev/zero > /data/kill-me.bin'`);
    const running = x.hx.cp.router.invoke('backups.run', { policy: 'vault-local' }, operator).catch((e: unknown) => e);
    await waitFor('the upload under way', () => sh(`find /home/${x.user}/backups -name 'data.sealed.partial-*' -size +1M || true`).trim() !== '', 30_000, 20);
    const pid = readPid(x.user, 'agent');
    process.kill(pid, 'SIGKILL');
    await running;
    await waitFor('a new agent', () => readPid(x.user, 'agent') !== pid && readPid(x.user, 'agent') > 0, 30_000);
    const run = await waitFor('the run marked failed', async () => (await x.hx.cp.router.invoke('backups.runs', { policy: 'vault-local' }, operator)).find((r) => r.status === 'failed'), 60_000, 500);
    expect(run.error).toMatch(/agent/);
    expect(sh(`find /home/${x.user}/backups -path '*${run.id}*' || true`).trim()).toBe('');
    await waitFor('the app serving again', async () => (await x.get('vault.test', '/version')).status === 200, 30_000);
    x.onHost(`podman exec ${containerOf(APP)} rm -f /data/kill-me.bin`);
  });
});

describe('autonomy and PodPloy own state', () => {
  it('the node runs its schedule while the control plane is closed; the run shows up when it returns', async () => {
    const at = new Date(Date.now() + 25_000);
    const cron = `${at.getUTCSeconds()} ${at.getUTCMinutes()} ${at.getUTCHours()} * * *`;
    await x.hx.cp.router.invoke('backups.policies.set', { name: 'vault-timed', app: APP, source: { kind: 'volume', volume: VOLUME }, schedules: [cron], destinations: ['node-disk'] }, operator);
    const dataDir = x.hx.dataDir;
    const token = x.hx.token;
    await x.hx.close();
    await sleep(at.getTime() - Date.now() + 10_000);
    x.hx = await startHarness({ dataDir, token });
    const run = await waitFor('the scheduled run reported', async () => (await x.hx.cp.router.invoke('backups.runs', { policy: 'vault-timed' }, operator)).find((r) => r.status === 'ok'), 90_000, 500);
    expect(run.trigger).toBe('schedule');
  }, 240_000);

  it('backs up its own state and a fresh control plane restored from it has the nodes, apps, releases and secrets', async () => {
    await x.hx.cli(['secrets', 'set', APP, 'API_KEY=s3cr3t-value']);
    const localDir = mkdtempSync(join(tmpdir(), 'pp-state-backups-'));
    await x.hx.cp.router.invoke('backups.destinations.set', { kind: 'local', name: 'cp-disk', path: localDir }, operator);
    await x.hx.cp.router.invoke('backups.policies.set', { name: 'podploy-state', source: { kind: 'control-plane' }, destinations: ['cp-disk'] }, operator);
    const run = await runPolicy('podploy-state');
    expect(run).toMatchObject({ status: 'ok', node: null });

    const fresh = mkdtempSync(join(tmpdir(), 'pp-fresh-'));
    const destFile = join(fresh, 'dest.json');
    writeFileSync(destFile, JSON.stringify({ kind: 'local', path: localDir }));
    const masterKey = Buffer.from(readFileSync(join(x.hx.dataDir, 'master.key'), 'utf8').trim(), 'base64');
    const data = join(fresh, 'data');
    execFileSync(process.execPath, [CLI, 'state', 'restore', '--destination', destFile, '--latest', '--data', data], {
      env: { ...process.env, PODPLOY_MASTER_KEY: masterKey.toString('base64') },
      encoding: 'utf8',
    });
    const restored = await startHarness({ dataDir: data, masterKey: new Uint8Array(masterKey), token: x.hx.token });
    try {
      expect((await restored.cp.router.invoke('nodes.list', {}, operator)).map((n) => n.name)).toContain(NODE);
      expect((await restored.cp.router.invoke('apps.list', {}, operator)).map((a) => a.name)).toContain(APP);
      expect((await restored.cp.router.invoke('apps.releases', { name: APP }, operator)).length).toBeGreaterThan(0);
      expect((await restored.cp.router.invoke('secrets.list', { app: APP }, operator)).secrets.map((s) => s.name)).toContain('API_KEY');
    } finally {
      await restored.close();
      rmSync(fresh, { recursive: true, force: true });
    }
  });
});

describe('in Chromium', () => {
  it('shows the policies with their next runs, runs one live, and restores a run from the dialog', async () => {
    const ui = await launchUi();
    const { page } = ui;
    try {
      await page.setViewportSize({ width: 1440, height: 900 });
      await page.goto(x.hx.url);
      await new LoginPage(page).login(x.hx.token);
      await page.goto(`${x.hx.url}/#/backups`);
      const policy = page.locator('[data-testid="policy-row"][data-name="vault-daily"]');
      await policy.waitFor();
      await expect.poll(() => policy.getByTestId('policy-schedule').innerText()).toMatch(/every day at 03:00/i);
      await expect.poll(() => policy.getByTestId('policy-next-runs').innerText()).toMatch(/\d/);
      expect(await policy.getAttribute('data-pushed')).toBe('true');

      const before = await page.getByTestId('run-row').count();
      await policy.getByTestId('policy-run-now').click();
      await expect.poll(() => page.getByTestId('run-row').count(), { timeout: 60_000 }).toBeGreaterThan(before);
      const newest = page.locator('[data-testid="run-row"]').first();
      await expect.poll(() => newest.getAttribute('data-status'), { timeout: 120_000 }).toBe('ok');
      await screenshot(page, 'backups-01-page');

      await newest.getByTestId('run-restore').click();
      await page.getByTestId('restore-form').waitFor();
      await page.getByTestId('restore-target').fill('vault-from-ui');
      await page.getByTestId('restore-start').click();
      await page.getByTestId('restore-result').waitFor({ timeout: 120_000 });
      expect(await page.getByTestId('restore-result-sha256').innerText()).toMatch(/[0-9a-f]{16}/);
      await screenshot(page, 'backups-02-restored');
      expect(volumeListing('vault-from-ui')).toBe(volumeListing(VOLUME));
    } finally {
      await ui.close();
    }
  });
});
