// Secrets end to end on test host h4: the real CLI and control plane, the agent, rootless Podman
// and Caddy. A distinctive value must reach the container (as /run/secrets/NAME and as an
// environment variable) and be found NOWHERE else: not in the control plane's data folder or
// log, not in the agent's folder or log, not in Podman's storage, runtime folders or logs, not
// in `podman inspect`. Every search also proves it finds a plain value that is there.
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadTestHosts, testHost } from '../hosts/hosts';
import { operator, readPid, ROOT, sh, sshAs, startHarness, waitFor, type Harness } from '../support/harness';
import { httpGet } from '../support/app-host';

const hosts = loadTestHosts();
const host = testHost(hosts, 'h4');
const user = host.users.deploy;
const DOMAIN = 'secret-app.test';
const APP = 'vault-app';
const uid = Number(sh(`id -u ${user}`).trim());
const SHM_BASE = `/dev/shm/podploy-secrets-${uid}`;
const STALE_FOLDER = 'podploy-gone-a-r0';
const home = sh(`getent passwd ${user} | cut -d: -f6`).trim();

const valueA = `pp-secret-${randomBytes(12).toString('hex')}`;
const valueB = `pp-secret-${randomBytes(12).toString('hex')}`;
// A plain environment value: Podman keeps it in its storage and shows it in inspect, so every
// search below must find this one.
const plainMarker = `pp-plain-${randomBytes(12).toString('hex')}`;

let hx: Harness;
let cpLog: string;

const onHost = (cmd: string) => sshAs(user, host, hosts.clientKey, cmd);
const get = (path: string) => httpGet(host.address, 80, DOMAIN, path);
const reset = () => sh(`${join(ROOT, 'test', 'hosts', 'reset-user.sh')} ${user}`);

// Where a value must never be, as root: the control plane's data folder and log, the agent's
// folder (logs included), Podman's storage and runtime folders.
function diskPlaces(): string[] {
  return [hx.dataDir, cpLog, `${home}/.local/share/podploy`, `${home}/.local/share/containers`, `${home}/.config/containers`, `/tmp/podman-run-${uid}`, `/tmp/containers-user-${uid}`, `/run/user/${uid}`];
}

// Files under `places` holding `needle` (grep -r as root; devices, fifos and sockets skipped).
function filesHolding(needle: string, places = diskPlaces()): string[] {
  const out = sh(`grep -rlaF -D skip -- '${needle}' ${places.map((p) => `'${p}'`).join(' ')} 2>/dev/null || true`);
  return out.split('\n').filter(Boolean);
}

// What Podman shows about the app's containers: inspect and logs.
function podmanViews(): string {
  const names = onHost(`podman ps -a --filter label=podploy.app=${APP} --format '{{.Names}}'`).split('\n').filter(Boolean);
  expect(names.length).toBeGreaterThan(0);
  return names.map((n) => onHost(`podman inspect ${n}; podman logs ${n} 2>&1`)).join('\n');
}

async function expectNowhere(secret: string): Promise<void> {
  // The same search finds plain values that are there: the env value in the control plane's
  // SQLite and in Podman's storage, the node id in the agent's config.
  const plain = filesHolding(plainMarker);
  expect(plain.some((f) => f.startsWith(hx.dataDir))).toBe(true);
  expect(plain.some((f) => f.startsWith(`${home}/.local/share/containers`))).toBe(true);
  const nodeId = (await hx.cp.router.invoke('nodes.get', { name: 'h4' }, operator)).id;
  expect(filesHolding(nodeId)).toContain(`${home}/.local/share/podploy/agent/config.json`);
  expect(filesHolding(secret)).toEqual([]);
  const views = podmanViews();
  expect(views).toContain(plainMarker);
  expect(views).not.toContain(secret);
}

beforeAll(async () => {
  reset();
  sh(`${join(ROOT, 'test', 'images', 'build-test-app.sh')} ${user} >/dev/null`);
  reset();
  // A folder a container left that no longer exists (as after a crash): the agent sweeps it.
  sh(`install -d -m 700 -o ${user} -g ${user} ${SHM_BASE} ${SHM_BASE}/${STALE_FOLDER}`);
  const dataDir = mkdtempSync(join(tmpdir(), 'pp-e2e-secrets-'));
  cpLog = join(dataDir, 'control-plane.log');
  hx = await startHarness({ dataDir, logger: pino({ level: 'trace' }, pino.destination({ dest: cpLog, sync: true })) });
  await hx.cp.router.invoke(
    'nodes.add',
    { address: `ssh://${user}@${host.address}:${host.port}`, auth: { kind: 'key', privateKey: readFileSync(hosts.clientKey, 'utf8') }, acceptNewHostKey: true, name: 'h4' },
    operator,
  );
  for (const v of ['v1', 'v2']) {
    onHost(`printf '%s\\n' 'FROM localhost/podploy-test-app:latest' 'ENV APP_VERSION=${v}' | podman build -q -t localhost/testapp:${v} -f - "$(mktemp -d)" >/dev/null`);
  }
  const created = await hx.cli(['app', 'create', APP, '--node', 'h4', '--image', 'localhost/testapp:v1', '--domain', DOMAIN, '--health', '/health', '--env', `PLAIN_MARKER=${plainMarker}`]);
  expect(created.code, created.stderr).toBe(0);
}, 300_000);

afterAll(async () => {
  await hx?.close();
  reset();
});

describe('secrets: encrypted everywhere, plain only inside the container', () => {
  it("sweeps, at the agent's start, a secrets folder whose container no longer exists", async () => {
    await waitFor('the stale folder gone', () => !sh(`ls ${SHM_BASE}`).split('\n').includes(STALE_FOLDER), 30_000);
  });

  it('refuses invalid names and unknown apps with a clear error, changing nothing', async () => {
    for (const args of [['bad-name=x'], ['1ABC=x'], ['PODPLOY_TOKEN=x'], ['GOOD=1', 'also bad=2']]) {
      const r = await hx.cli(['secrets', 'set', APP, ...args]);
      expect(r.code).toBe(1);
      expect(r.stderr).toMatch(/^error: invalid secret name/m);
      expect(r.stderr).toMatch(/^hint: /m);
    }
    const noValue = await hx.cli(['secrets', 'set', APP, 'TOKEN']);
    expect(noValue.code).toBe(1);
    expect(noValue.stderr).toMatch(/error: TOKEN: no value given\nhint: .*--stdin/);
    const unknownApp = await hx.cli(['secrets', 'set', 'no-such-app', 'A=1']);
    expect(unknownApp.stderr).toMatch(/error: no app named 'no-such-app'/);
    const unknownName = await hx.cli(['secrets', 'unset', APP, 'NOPE']);
    expect(unknownName.stderr).toMatch(/error: no secret named 'NOPE'; nothing was changed/);
    const list = await hx.cli(['secrets', 'list', APP, '--json']);
    expect(JSON.parse(list.stdout)).toEqual({ app: APP, version: 0, secrets: [] });
  });

  it('sets secrets from stdin and arguments; list shows names, never values', async () => {
    const fromStdin = await hx.cli(['secrets', 'set', APP, 'TOKEN', '--stdin'], { input: `${valueA}\n` });
    expect(fromStdin.code, fromStdin.stderr).toBe(0);
    expect(fromStdin.stdout).toMatch(/set TOKEN; vault-app is at secrets version 1/);
    const lines = await hx.cli(['secrets', 'set', APP, '--stdin', '--json'], { input: '# comment\nDB_USER=app\n' });
    expect(JSON.parse(lines.stdout)).toMatchObject({ version: 2, secrets: [{ name: 'DB_USER', updatedBy: 'admin' }, { name: 'TOKEN', updatedBy: 'admin' }] });
    const list = await hx.cli(['secrets', 'list', APP]);
    expect(list.stdout).toMatch(/^NAME\s+UPDATED\s+BY\nDB_USER\s.*admin\nTOKEN\s.*admin\n/);
    expect(list.stdout + lines.stdout + fromStdin.stdout).not.toContain(valueA);
  });

  it('deploys: the container reads the secret as a file and as an environment variable', async () => {
    const r = await hx.cli(['deploy', APP]);
    expect(r.code, r.stderr).toBe(0);
    expect(await get('/secret?name=TOKEN')).toEqual({ status: 200, body: valueA });
    expect(await get('/env?name=TOKEN')).toEqual({ status: 200, body: valueA });
    expect(await get('/env?name=DB_USER')).toEqual({ status: 200, body: 'app' });
    expect(await get('/env?name=PLAIN_MARKER')).toEqual({ status: 200, body: plainMarker });
    const [release] = await hx.cp.router.invoke('apps.releases', { name: APP }, operator);
    expect(release).toMatchObject({ number: 1, status: 'live', secretVersion: 2 });
    // The one plain copy on the node: a 0400 file in a 0700 folder on /dev/shm (tmpfs).
    const container = onHost(`podman ps --filter label=podploy.app=${APP} --format '{{.Names}}'`).trim();
    const dir = `/dev/shm/podploy-secrets-${uid}/${container}`;
    expect(sh(`stat -f -c %T /dev/shm`).trim()).toBe('tmpfs');
    expect(sh(`stat -c '%a %U' ${dir} ${dir}/TOKEN`).trim().split('\n')).toEqual([`700 ${user}`, `400 ${user}`]);
    expect(sh(`cat ${dir}/TOKEN`)).toBe(valueA);
  });

  it('the value is in no file of the control plane, the agent or Podman, in no log and not in podman inspect', async () => {
    await expectNowhere(valueA);
  });

  it('a changed secret reaches the next release; the old container takes its secrets folder with it', async () => {
    const set = await hx.cli(['secrets', 'set', APP, `TOKEN=${valueB}`]);
    expect(set.code, set.stderr).toBe(0);
    const r = await hx.cli(['deploy', APP, '--image', 'localhost/testapp:v2']);
    expect(r.code, r.stderr).toBe(0);
    expect(await get('/secret?name=TOKEN')).toEqual({ status: 200, body: valueB });
    expect(await get('/env?name=TOKEN')).toEqual({ status: 200, body: valueB });
    expect(await get('/version')).toEqual({ status: 200, body: 'v2' });
    const containers = onHost(`podman ps -a --filter label=podploy.app=${APP} --format '{{.Names}}'`).trim().split('\n');
    expect(containers).toHaveLength(1);
    expect(sh(`ls /dev/shm/podploy-secrets-${uid}`).trim().split('\n')).toEqual(containers);
  });

  it('a rollback brings back the old release with its old secrets', async () => {
    const r = await hx.cli(['rollback', APP, '--to', '1']);
    expect(r.code, r.stderr).toBe(0);
    expect(await get('/version')).toEqual({ status: 200, body: 'v1' });
    expect(await get('/secret?name=TOKEN')).toEqual({ status: 200, body: valueA });
    expect(await get('/env?name=TOKEN')).toEqual({ status: 200, body: valueA });
    const releases = await hx.cp.router.invoke('apps.releases', { name: APP }, operator);
    expect(releases.map((x) => [x.number, x.status, x.secretVersion])).toEqual([
      [3, 'live', 2],
      [2, 'superseded', 3],
      [1, 'superseded', 2],
    ]);
    const listed = JSON.parse((await hx.cli(['secrets', 'list', APP, '--json'])).stdout);
    expect(listed.version).toBe(3);
  });

  it('neither value is anywhere after all of it, the agent log included', async () => {
    await expectNowhere(valueA);
    await expectNowhere(valueB);
    const agentLog = onHost('cat ~/.local/share/podploy/agent/log/agent.log');
    expect(agentLog).toContain('secrets_mounted');
    expect(agentLog).toContain('TOKEN');
  });

  it('after /dev/shm was emptied, the restarted agent writes the folder again from the sealed copy, so the container can restart', async () => {
    const container = onHost(`podman ps --filter label=podploy.app=${APP} --format '{{.Names}}'`).trim();
    const dir = `/dev/shm/podploy-secrets-${uid}/${container}`;
    sh(`rm -rf ${dir}`);
    const oldPid = readPid(user, 'agent');
    sh(`kill ${oldPid}`);
    await waitFor('the agent restarted by its supervisor', () => readPid(user, 'agent') !== oldPid && readPid(user, 'agent') > 0 && sh(`test -f ${dir}/TOKEN && echo yes || true`).trim() === 'yes', 60_000);
    expect(sh(`cat ${dir}/TOKEN`)).toBe(valueA);
    onHost(`podman restart ${container} >/dev/null`);
    await waitFor('the app answers again', async () => (await get('/env?name=TOKEN').catch(() => ({ status: 0, body: '' }))).status === 200, 30_000);
    expect(await get('/secret?name=TOKEN')).toEqual({ status: 200, body: valueA });
    expect(await get('/env?name=TOKEN')).toEqual({ status: 200, body: valueA });
    expect(onHost('grep secrets_restored ~/.local/share/podploy/agent/log/agent.log | tail -1')).toContain(container);
  });

  it('an image without /bin/sh gets the files only: its entrypoint is left alone', async () => {
    // busybox alone, without its applet links: no /bin/sh. It serves /www with its own httpd.
    onHost(
      `set -e; r=$(mktemp -d); mkdir -p $r/bin $r/www $r/tmp; cp /bin/busybox $r/bin/; echo ok > $r/www/health; ` +
        `tar -C $r -c . | podman import -q --change 'CMD ["/bin/busybox","httpd","-f","-p","8080","-h","/www"]' - localhost/noshell:latest >/dev/null; rm -rf $r`,
    );
    const created = await hx.cli(['app', 'create', 'noshell', '--node', 'h4', '--image', 'localhost/noshell:latest', '--domain', 'noshell.test', '--health', '/health']);
    expect(created.code, created.stderr).toBe(0);
    const value = `pp-secret-${randomBytes(12).toString('hex')}`;
    expect((await hx.cli(['secrets', 'set', 'noshell', `TOKEN=${value}`])).code).toBe(0);
    const r = await hx.cli(['deploy', 'noshell']);
    expect(r.code, r.stderr).toBe(0);
    const container = onHost(`podman ps --filter label=podploy.app=noshell --format '{{.Names}}'`).trim();
    expect(onHost(`podman exec ${container} /bin/busybox cat /run/secrets/TOKEN`)).toBe(value);
    expect(onHost(`podman exec ${container} /bin/busybox env`)).not.toContain('TOKEN');
    expect(JSON.parse(onHost(`podman inspect ${container} --format '{{json .Config.Entrypoint}}'`) || 'null') ?? '').not.toContain('podploy-secrets');
    expect(onHost(`podman inspect ${container}`)).not.toContain(value);
    expect(onHost('grep secrets_mounted ~/.local/share/podploy/agent/log/agent.log | tail -1')).toContain('files only');
  });

  it('a node without a secrets key refuses to take secrets, recording nothing, until it is onboarded again', async () => {
    const node = await hx.cp.router.invoke('nodes.get', { name: 'h4' }, operator);
    hx.cp.db.$client.prepare('DELETE FROM vault WHERE name = ?').run(`node-secrets-key:${node.id}`);
    const before = await hx.cp.router.invoke('apps.releases', { name: APP }, operator);
    const r = await hx.cli(['deploy', APP]);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/error: node 'h4' .* has no secrets key/);
    expect(r.stderr).toMatch(/hint: run `podploy node add ssh:\/\/.*` again/);
    expect(await hx.cp.router.invoke('apps.releases', { name: APP }, operator)).toEqual(before);
    await hx.cp.router.invoke(
      'nodes.add',
      { address: `ssh://${user}@${host.address}:${host.port}`, auth: { kind: 'key', privateKey: readFileSync(hosts.clientKey, 'utf8') }, acceptNewHostKey: true, name: 'h4' },
      operator,
    );
    await waitFor('h4 back online', async () => (await hx.cp.router.invoke('nodes.get', { name: 'h4' }, operator)).status === 'online' || undefined, 60_000);
    const again = await hx.cli(['deploy', APP]);
    expect(again.code, again.stderr).toBe(0);
    expect(await get('/env?name=TOKEN')).toEqual({ status: 200, body: valueB });
  });
});
