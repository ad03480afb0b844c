// Sources end to end on test host h6: an app built on the node from a git repository (the
// build log streamed live to the CLI, a broken Containerfile failing at "image" while the last
// good release keeps serving), and an app pulled from a private registry (Debian's
// docker-registry with htpasswd auth, run inside h6's network namespace) with credentials
// stored by `podploy registry login`: wrong password, unknown image and an unreachable
// registry each fail at "image" with their own reason and change nothing.
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { chmodSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { prepareAppHost, type AppHost } from '../support/app-host';
import { AGENT_DIR_OF, CLI, sh, waitFor } from '../support/harness';

const GIT_DOMAIN = 'git.test';
const REG_DOMAIN = 'reg.test';
const REGISTRY = '127.0.0.1:5000';
const REG_USER = 'ci';
const REG_PASSWORD = `pp-reg-${randomBytes(8).toString('hex')}`;
// Long enough to tell "streamed while building" from "printed at the end".
const BUILD_PAUSE_S = 2;

let ah: AppHost;
let registry: ChildProcess | undefined;
let registryDir: string;
let repo: string;

interface LiveRun {
  code: number;
  stdout: string;
  stderr: string;
  // Each stderr line with the time the CLI's output reached us.
  lines: { at: number; text: string }[];
}

// The real CLI as a child process, its stderr timestamped line by line as it arrives.
function cliLive(args: string[], opts: { input?: string; env?: Record<string, string> } = {}): Promise<LiveRun> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [CLI, ...args], { env: { ...process.env, PODPLOY_URL: ah.hx.url, PODPLOY_TOKEN: ah.hx.token, ...opts.env } });
    let stdout = '';
    let stderr = '';
    let partial = '';
    const lines: LiveRun['lines'] = [];
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => {
      const text = d.toString();
      stderr += text;
      const parts = (partial + text).split('\n');
      partial = parts.pop() ?? '';
      for (const p of parts) lines.push({ at: Date.now(), text: p });
    });
    child.stdin.end(opts.input ?? '');
    child.on('close', (code) => resolve({ code: code ?? 1, stdout, stderr, lines }));
  });
}

// Writes files into the node user's clone of the repository, commits and pushes to the bare
// repository on the node, all over SSH as that user; returns the new commit id.
function commit(files: Record<string, string>, message: string): string {
  const writes = Object.entries(files).map(([path, content]) => `echo ${Buffer.from(content).toString('base64')} | base64 -d > ${path}`);
  return ah
    .onHost(
      [
        'set -e',
        'cd ~/src/web',
        ...writes,
        'git add -A',
        `git -c user.name=PodPloy-test -c user.email=test@podploy.invalid commit -q -m '${message}'`,
        'git push -q origin HEAD:main',
        'git rev-parse HEAD',
      ].join('\n'),
    )
    .trim();
}

const containerfile = (version: string, extra: string[] = []) => ['FROM localhost/podploy-test-app:latest', ...extra, `ENV APP_VERSION=${version}`].join('\n') + '\n';

async function releases(app: string): Promise<{ number: number; status: string; imageRef: string; imageDigest: string | null; failedStep: string | null; reason: string | null }[]> {
  const r = await ah.hx.cli(['releases', app, '--json']);
  expect(r.code, r.stderr).toBe(0);
  return JSON.parse(r.stdout);
}

beforeAll(async () => {
  ah = await prepareAppHost('h6');
  repo = `/home/${ah.user}/repos/web.git`;
  ah.onHost(['set -e', 'rm -rf ~/repos ~/src', 'mkdir -p ~/repos ~/src', `git init -q --bare --initial-branch=main ${repo}`, `git clone -q ${repo} ~/src/web 2>/dev/null`].join('\n'));
}, 300_000);

afterAll(async () => {
  if (registry) {
    registry.kill('SIGTERM');
    await new Promise((r) => setTimeout(r, 300));
  }
  if (registryDir) rmSync(registryDir, { recursive: true, force: true });
  try {
    ah?.onHost('rm -rf ~/repos ~/src');
  } catch {
    // The host is reset below anyway.
  }
  await ah?.close();
}, 120_000);

describe('apps built from git on the node', () => {
  it('creates the app from git; a bad ref or Containerfile path is refused and creates nothing', async () => {
    let r = await ah.hx.cli(['app', 'create', 'web6', '--node', 'h6', '--git', repo, '--ref', '--upload-pack=x', '--domain', GIT_DOMAIN]);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/^error: .*source\.ref: a git ref is a branch, tag or commit/m);
    r = await ah.hx.cli(['app', 'create', 'web6', '--node', 'h6', '--git', repo, '--containerfile', '../Dockerfile', '--domain', GIT_DOMAIN]);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('source.containerfile: the Containerfile path is relative to the repository');
    expect((await ah.hx.cli(['app', 'list', '--json'])).stdout.trim()).toBe('[]');
    r = await ah.hx.cli(['app', 'create', 'web6', '--node', 'h6', '--git', repo, '--ref', 'main', '--domain', GIT_DOMAIN, '--health', '/health']);
    expect(r.code, r.stderr).toBe(0);
    const info = JSON.parse((await ah.hx.cli(['app', 'info', 'web6', '--json'])).stdout);
    expect(info.spec.source).toEqual({ kind: 'git', url: repo, ref: 'main', containerfile: 'Containerfile' });
  });

  it('deploys git1: the build log reaches the CLI live and dimmed, the release records the built digest', async () => {
    const sha = commit(
      {
        Containerfile: containerfile('git1', [
          'RUN ["/bin/busybox", "echo", "build-marker-start"]',
          `RUN ["/bin/busybox", "sleep", "${BUILD_PAUSE_S}"]`,
          'RUN ["/bin/busybox", "echo", "build-marker-end"]',
        ]),
      },
      'git1',
    );
    const r = await cliLive(['deploy', 'web6'], { env: { FORCE_COLOR: '1' } });
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toContain('web6 v1 is live (localhost/podploy-web6:r1)');
    const start = r.lines.find((l) => l.text.includes('│ build-marker-start'));
    const end = r.lines.find((l) => l.text.includes('│ build-marker-end'));
    const imageDone = r.lines.find((l) => /✓ image/.test(l.text));
    expect(start && end && imageDone, r.stderr).toBeTruthy();
    // The first line reached the terminal while the build was still running.
    expect(end!.at - start!.at).toBeGreaterThan((BUILD_PAUSE_S - 0.5) * 1_000);
    expect(start!.at).toBeLessThan(imageDone!.at);
    // Build lines are dimmed (SGR 2), the step lines are not.
    expect(start!.text).toMatch(/^\u001b\[2mv1 \[1\/6\] {3}│ build-marker-start\u001b\[22m$/);
    expect(imageDone!.text).not.toContain('\u001b[2m');
    expect(r.stderr).toContain(`git: main is commit ${sha}`);
    expect(imageDone!.text).toContain(`commit ${sha.slice(0, 12)}`);
    expect(await ah.get(GIT_DOMAIN, '/version')).toEqual({ status: 200, body: 'git1' });
    const [v1] = await releases('web6');
    expect(v1).toMatchObject({ number: 1, status: 'live', imageRef: 'localhost/podploy-web6:r1' });
    const digest = ah.onHost("podman image inspect --format '{{.Digest}}' localhost/podploy-web6:r1").trim();
    expect(v1.imageDigest).toBe(digest);
    expect(v1.imageDigest).toMatch(/^sha256:[0-9a-f]{64}$/);
    // The build's temporary checkout is gone.
    expect(readdirSync(join(AGENT_DIR_OF(ah.user), 'build'))).toEqual([]);
  });

  it('a second commit deploys git2', async () => {
    commit({ Containerfile: containerfile('git2') }, 'git2');
    const r = await ah.hx.cli(['deploy', 'web6']);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toContain('web6 v2 is live (localhost/podploy-web6:r2)');
    expect(await ah.get(GIT_DOMAIN, '/version')).toEqual({ status: 200, body: 'git2' });
    // Without colour (not a terminal), build lines are plain.
    expect(r.stderr).toMatch(/^v2 \[1\/6\] {3}│ STEP 2\/\d+: ENV APP_VERSION=git2$/m);
  });

  it('a broken Containerfile fails the release at "image" with the build\'s last lines; git2 keeps serving', async () => {
    commit({ Containerfile: containerfile('git3', ['RUN ["/bin/busybox", "sh", "-c", "echo build-is-broken-here; exit 3"]']) }, 'broken');
    const r = await ah.hx.cli(['deploy', 'web6']);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/error: release v3 of web6 failed at image: the build failed: .*/);
    expect(r.stderr).toContain('build-is-broken-here');
    expect(r.stderr).toMatch(/hint: the previous release keeps serving/);
    expect(await ah.get(GIT_DOMAIN, '/version')).toEqual({ status: 200, body: 'git2' });
    const [v3, v2] = await releases('web6');
    expect(v3).toMatchObject({ number: 3, status: 'failed', failedStep: 'image' });
    expect(v3.reason).toContain('last lines of the build log');
    expect(v2).toMatchObject({ number: 2, status: 'live' });
    expect(ah.onHost('podman ps --format {{.Image}}')).not.toContain('podploy-web6:r3');
  });

  it('rolls back to git1 without building: the image built for v1 runs again', async () => {
    const r = await ah.hx.cli(['rollback', 'web6', '--to', '1']);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).not.toContain('│');
    expect(r.stderr).toMatch(/✓ image +localhost\/podploy-web6:r1 (at sha256:[0-9a-f]{64} )?is on the node/);
    expect(await ah.get(GIT_DOMAIN, '/version')).toEqual({ status: 200, body: 'git1' });
    // The app still builds from git.
    const info = JSON.parse((await ah.hx.cli(['app', 'info', 'web6', '--json'])).stdout);
    expect(info.spec.source.kind).toBe('git');
  });
});

describe('apps pulled from a private registry', () => {
  beforeAll(async () => {
    registryDir = mkdtempSync(join(tmpdir(), 'pp-registry-'));
    chmodSync(registryDir, 0o700);
    mkdirSync(join(registryDir, 'data'));
    writeFileSync(join(registryDir, 'htpasswd'), sh(`htpasswd -Bbn ${REG_USER} '${REG_PASSWORD}'`));
    writeFileSync(
      join(registryDir, 'config.yml'),
      [
        'version: 0.1',
        'log:',
        '  level: warn',
        'storage:',
        '  filesystem:',
        `    rootdirectory: ${join(registryDir, 'data')}`,
        'http:',
        `  addr: ${REGISTRY}`,
        'auth:',
        '  htpasswd:',
        '    realm: podploy-test',
        `    path: ${join(registryDir, 'htpasswd')}`,
      ].join('\n') + '\n',
    );
    // Inside h6's network namespace: 127.0.0.1:5000 there is the node's own loopback.
    registry = spawn('nsenter', [`--net=/var/run/netns/${ah.host.netns}`, 'docker-registry', 'serve', join(registryDir, 'config.yml')], { stdio: 'ignore' });
    await waitFor('the registry to answer', () => sh(`nsenter --net=/var/run/netns/${ah.host.netns} curl -s -o /dev/null -w '%{http_code}' http://${REGISTRY}/v2/`) === '401', 15_000);
    // Tagged test apps pushed as the node user, then removed locally so every deploy pulls.
    for (const v of ['reg1', 'reg2']) {
      ah.buildVersion(v);
      ah.onHost(
        [
          'set -e',
          `podman tag localhost/testapp:${v} ${REGISTRY}/team/app:${v}`,
          `podman push -q --tls-verify=false --creds '${REG_USER}:${REG_PASSWORD}' ${REGISTRY}/team/app:${v} >/dev/null`,
          // The image itself (every tag), as on a node that never built it: the pull stores the
          // registry's manifest, and the release records its digest.
          `podman rmi -f $(podman image inspect --format '{{.Id}}' localhost/testapp:${v}) >/dev/null`,
        ].join('\n'),
      );
    }
  }, 180_000);

  it('registry login reads the password from stdin; list never shows it', async () => {
    let r = await ah.hx.cli(['registry', 'login', REGISTRY, '--username', REG_USER]);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/error: the password is read from standard input only\nhint: pass --password-stdin/);
    r = await ah.hx.cli(['registry', 'login', 'not a server', '--username', REG_USER, '--password-stdin'], { input: 'x\n' });
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('a registry is host or host:port');
    r = await ah.hx.cli(['registry', 'login', REGISTRY, '--username', REG_USER, '--password-stdin', '--insecure'], { input: `${REG_PASSWORD}\n` });
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toContain(`logged in to ${REGISTRY} as ${REG_USER} (TLS not verified)`);
    r = await ah.hx.cli(['registry', 'list', '--json']);
    expect(r.code, r.stderr).toBe(0);
    expect(JSON.parse(r.stdout)).toEqual([{ server: REGISTRY, username: REG_USER, insecure: true, loggedInAt: expect.any(Number), loggedInBy: 'admin (cli)' }]);
    r = await ah.hx.cli(['registry', 'list']);
    expect(r.stdout).toMatch(new RegExp(`^127\\.0\\.0\\.1:5000 +${REG_USER} +not verified +\\d+s ago +admin \\(cli\\)$`, 'm'));
    expect(r.stdout + r.stderr).not.toContain(REG_PASSWORD);
  });

  it('deploys reg1 pulled with the stored credentials; the release records the digest', async () => {
    let r = await ah.hx.cli(['app', 'create', 'reg6', '--node', 'h6', '--image', `${REGISTRY}/team/app:reg1`, '--domain', REG_DOMAIN]);
    expect(r.code, r.stderr).toBe(0);
    r = await ah.hx.cli(['deploy', 'reg6']);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toMatch(new RegExp(`✓ image +pulled ${REGISTRY}/team/app:reg1 as ${REG_USER}: sha256:`));
    expect(await ah.get(REG_DOMAIN, '/version')).toEqual({ status: 200, body: 'reg1' });
    const [v1] = await releases('reg6');
    expect(v1.imageDigest).toMatch(/^sha256:[0-9a-f]{64}$/);
  });

  it('a wrong password fails at "image" as bad credentials; reg1 keeps serving', async () => {
    let r = await ah.hx.cli(['registry', 'login', REGISTRY, '--username', REG_USER, '--password-stdin', '--insecure'], { input: 'not-the-password\n' });
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toContain('replaced the credentials');
    r = await ah.hx.cli(['deploy', 'reg6', '--image', `${REGISTRY}/team/app:reg2`]);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(new RegExp(`error: release v2 of reg6 failed at image: bad credentials: registry ${REGISTRY.replace(/\./g, '\\.')} refused user '${REG_USER}'`));
    expect(await ah.get(REG_DOMAIN, '/version')).toEqual({ status: 200, body: 'reg1' });
    const info = JSON.parse((await ah.hx.cli(['app', 'info', 'reg6', '--json'])).stdout);
    expect(info.spec.source.image).toBe(`${REGISTRY}/team/app:reg1`);
  });

  it('an unknown image fails as "no such image", an unreachable registry as "unreachable"; reg1 keeps serving', async () => {
    let r = await ah.hx.cli(['registry', 'login', REGISTRY, '--username', REG_USER, '--password-stdin', '--insecure'], { input: REG_PASSWORD });
    expect(r.code, r.stderr).toBe(0);
    r = await ah.hx.cli(['deploy', 'reg6', '--image', `${REGISTRY}/team/app:nope`]);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/failed at image: no such image: registry 127\.0\.0\.1:5000 has no team\/app:nope/);
    r = await ah.hx.cli(['deploy', 'reg6', '--image', '127.0.0.1:5001/team/app:reg2']);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/failed at image: registry unreachable: the node cannot reach 127\.0\.0\.1:5001/);
    expect(await ah.get(REG_DOMAIN, '/version')).toEqual({ status: 200, body: 'reg1' });
    const rows = await releases('reg6');
    expect(rows.map((x) => `${x.number} ${x.status} ${x.failedStep ?? ''}`)).toEqual(['4 failed image', '3 failed image', '2 failed image', '1 live ']);
  });

  it('a rollback whose image left the node pulls it again by its digest, with the stored credentials', async () => {
    let r = await ah.hx.cli(['deploy', 'reg6', '--image', `${REGISTRY}/team/app:reg2`]);
    expect(r.code, r.stderr).toBe(0);
    // Every tag of that image goes (the test pushed it from another tag too).
    ah.onHost(`podman rmi -f $(podman image inspect --format '{{.Id}}' ${REGISTRY}/team/app:reg1) >/dev/null`);
    r = await ah.hx.cli(['rollback', 'reg6', '--to', '1']);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toMatch(new RegExp(`✓ image +pulled ${REGISTRY}/team/app@sha256:[a-f0-9]{64} as ${REG_USER}`));
    expect(await ah.get(REG_DOMAIN, '/version')).toEqual({ status: 200, body: 'reg1' });
  });

  it('deploys reg2 with the right credentials again, then logout forgets them', async () => {
    let r = await ah.hx.cli(['deploy', 'reg6', '--image', `${REGISTRY}/team/app:reg2`]);
    expect(r.code, r.stderr).toBe(0);
    expect(await ah.get(REG_DOMAIN, '/version')).toEqual({ status: 200, body: 'reg2' });
    r = await ah.hx.cli(['registry', 'logout', REGISTRY]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toContain(`removed the credentials for ${REGISTRY}`);
    expect(JSON.parse((await ah.hx.cli(['registry', 'list', '--json'])).stdout)).toEqual([]);
    r = await ah.hx.cli(['registry', 'logout', REGISTRY]);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/error: no credentials for registry 127\.0\.0\.1:5000\nhint: see `podploy registry list`/);
    // Without its login the registry is no longer trusted without TLS: the pull verifies TLS,
    // the plain-HTTP registry fails it, and the reason says how to allow it.
    r = await ah.hx.cli(['deploy', 'reg6', '--image', `${REGISTRY}/team/app:reg1`]);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/failed at image: registry 127\.0\.0\.1:5000: TLS failed \(a plain-HTTP registry.*--insecure/);
    expect(await ah.get(REG_DOMAIN, '/version')).toEqual({ status: 200, body: 'reg2' });
  });

  it('the password is nowhere in plain text: not in the control plane folder, the agent folder or its log', () => {
    const needle = Buffer.from(REG_PASSWORD);
    const hits: string[] = [];
    const scan = (dir: string) => {
      for (const name of readdirSync(dir)) {
        const p = join(dir, name);
        const st = statSync(p);
        if (st.isDirectory()) scan(p);
        else if (st.isFile() && readFileSync(p).includes(needle)) hits.push(p);
      }
    };
    // The scan finds a plain value where there is one.
    const canary = mkdtempSync(join(tmpdir(), 'pp-canary-'));
    writeFileSync(join(canary, 'plain.txt'), `password=${REG_PASSWORD}\n`);
    scan(canary);
    rmSync(canary, { recursive: true, force: true });
    expect(hits).toEqual([join(canary, 'plain.txt')]);
    hits.length = 0;
    scan(ah.hx.dataDir);
    scan(AGENT_DIR_OF(ah.user));
    expect(hits).toEqual([]);
  });
});
