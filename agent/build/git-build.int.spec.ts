// Git builds against a REAL rootful Podman (its REST socket, started here) and real git
// repositories made here: a branch, a commit id, a Dockerfile-only repo, a broken
// Containerfile, a missing ref, and log lines that arrive while the build still runs.
import { startPodmanService, stopPodmanService } from '../podman/podman-test-service';
import { execFileSync, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PodmanClient } from '../podman/client';
import { removeImage } from '../podman/images';
import { buildFromGit, GitBuildError, type GitBuildRequest } from './git-build';

const run = randomBytes(4).toString('hex');
const socket = `/tmp/pp-gitbuild-${run}.sock`;
const APP = `ppgit${run}`;
const podman = new PodmanClient(socket);
let service: ChildProcess | undefined;
let dir: string;
let workRoot: string;
const tags: string[] = [];

const git = (cwd: string, ...args: string[]) => execFileSync('git', args, { cwd, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, GIT_AUTHOR_NAME: 't', GIT_AUTHOR_EMAIL: 't@t', GIT_COMMITTER_NAME: 't', GIT_COMMITTER_EMAIL: 't@t' } }).trim();

// A bare repository with one commit per entry of `commits` (files to write), on branch main.
function makeRepo(name: string, commits: Record<string, string>[]): { bare: string; shas: string[] } {
  const bare = join(dir, `${name}.git`);
  const work = join(dir, `${name}-work`);
  git(dir, 'init', '--quiet', '--bare', '--initial-branch=main', bare);
  git(dir, 'clone', '--quiet', bare, work);
  const shas: string[] = [];
  for (const files of commits) {
    for (const [path, content] of Object.entries(files)) writeFileSync(join(work, path), content);
    git(work, 'add', '-A');
    git(work, 'commit', '--quiet', '-m', `commit ${shas.length + 1}`);
    shas.push(git(work, 'rev-parse', 'HEAD'));
  }
  git(work, 'push', '--quiet', 'origin', 'HEAD:main');
  return { bare, shas };
}

function request(over: Partial<GitBuildRequest> & { url: string }): GitBuildRequest {
  const release = over.release ?? `r${tags.length + 1}`;
  const tag = `localhost/podploy-${APP}:${release}`;
  tags.push(tag);
  return { app: APP, release, ref: 'main', containerfile: 'Containerfile', tag, ...over };
}

beforeAll(async () => {
  service = await startPodmanService(socket);
  dir = mkdtempSync(join(tmpdir(), 'pp-gitbuild-'));
  workRoot = join(dir, 'agent', 'build');
}, 60_000);

afterAll(async () => {
  await stopPodmanService(service, socket, {
    beforeStop: async (p) => {
      for (const t of tags) await removeImage(p, t, { force: true, ignoreMissing: true }).catch(() => undefined);
    },
  });
  if (dir) rmSync(dir, { recursive: true, force: true });
}, 30_000);

describe('building an image from git on the node', () => {
  let repo: { bare: string; shas: string[] };

  it('builds the branch head, streams the log while it runs, tags and labels the image, removes its folder', async () => {
    repo = makeRepo('app', [
      { Containerfile: 'FROM localhost/podploy-test-app:latest\nENV APP_VERSION=one\n' },
      {
        Containerfile: [
          'FROM localhost/podploy-test-app:latest',
          'RUN ["/bin/busybox", "echo", "first-line-marker"]',
          'RUN ["/bin/busybox", "sleep", "2"]',
          'RUN ["/bin/busybox", "echo", "last-line-marker"]',
          'ENV APP_VERSION=two',
        ].join('\n'),
      },
    ]);
    const lines: { at: number; line: string }[] = [];
    const req = request({ url: repo.bare });
    const built = await buildFromGit(req, { podman, workRoot, onLog: (line) => lines.push({ at: Date.now(), line }) });
    expect(built.commit).toBe(repo.shas[1]);
    expect(built.containerfile).toBe('Containerfile');
    expect(built.image.repoTags).toContain(req.tag);
    expect(built.image.digest).toMatch(/^sha256:[0-9a-f]{64}$/);
    expect(built.image.labels).toMatchObject({ 'podploy.app': APP, 'podploy.release': req.release, 'podploy.git.commit': repo.shas[1] });
    const first = lines.find((l) => l.line.includes('first-line-marker') && !l.line.startsWith('STEP'));
    const last = lines.find((l) => l.line.includes('last-line-marker') && !l.line.startsWith('STEP'));
    expect(first && last, lines.map((l) => l.line).join('\n')).toBeTruthy();
    // The first RUN's output arrived about 2 s before the last one's: live, not at the end.
    expect(last!.at - first!.at).toBeGreaterThan(1_500);
    expect(lines.some((l) => l.line === `git: main is commit ${repo.shas[1]}`)).toBe(true);
    expect(readdirSync(workRoot)).toEqual([]);
  });

  it('builds an older commit by its id (a ref git cannot shallow-clone)', async () => {
    const built = await buildFromGit(request({ url: repo.bare, ref: repo.shas[0] }), { podman, workRoot });
    expect(built.commit).toBe(repo.shas[0]);
    const env = execFileSync('podman', ['--url', `unix://${socket}`, 'image', 'inspect', '--format', '{{json .Config.Env}}', built.image.id], { encoding: 'utf8' });
    expect(env).toContain('APP_VERSION=one');
  });

  it('uses a Dockerfile when the repository has no Containerfile', async () => {
    const docker = makeRepo('docker', [{ Dockerfile: 'FROM localhost/podploy-test-app:latest\nENV APP_VERSION=docker\n' }]);
    const built = await buildFromGit(request({ url: docker.bare }), { podman, workRoot });
    expect(built.containerfile).toBe('Dockerfile');
  });

  it('a broken Containerfile fails as a build error that carries the last log lines', async () => {
    const broken = makeRepo('broken', [{ Containerfile: 'FROM localhost/podploy-test-app:latest\nRUN ["/bin/busybox", "false"]\n' }]);
    const err = await buildFromGit(request({ url: broken.bare }), { podman, workRoot }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(GitBuildError);
    expect((err as GitBuildError).phase).toBe('build');
    expect((err as Error).message).toMatch(/last lines of the build log:[\s\S]*busybox/);
    expect(readdirSync(workRoot)).toEqual([]);
  });

  it('a missing ref, a missing Containerfile, an unreachable repository and a hostile ref each fail clearly', async () => {
    const phase = (p: Promise<unknown>) => p.then(() => 'built', (e: GitBuildError) => `${e.phase}: ${e.message}`);
    expect(await phase(buildFromGit(request({ url: repo.bare, ref: 'no-such-branch' }), { podman, workRoot }))).toMatch(/^ref: .* has no branch, tag or commit "no-such-branch"/);
    expect(await phase(buildFromGit(request({ url: repo.bare, containerfile: 'deploy/Containerfile' }), { podman, workRoot }))).toMatch(/^containerfile: .*has no deploy\/Containerfile/);
    expect(await phase(buildFromGit(request({ url: join(dir, 'nothing-here.git') }), { podman, workRoot }))).toMatch(/^clone: git could not clone/);
    const marker = join(dir, 'pwned');
    expect(await phase(buildFromGit(request({ url: repo.bare, ref: `--upload-pack=touch ${marker}` }), { podman, workRoot }))).toMatch(/^request: /);
    expect(existsSync(marker)).toBe(false);
    expect(readdirSync(workRoot)).toEqual([]);
  });
});
