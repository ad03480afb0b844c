// Builds a release's image on the node from a git repository: clone the ref with the node's git
// into a temporary folder under the agent's folder, send `git archive` of the commit to
// Podman's build API as the context (every build log line goes to onLog as it comes), tag the
// result, and remove the folder whatever happened.
import { spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import type { PodmanClient } from '../podman/client';
import { buildImage, inspectImage, type ImageInfo } from '../podman/images';
import {
  archiveArgs,
  CONTAINERFILE_FALLBACKS,
  containerfileProblem,
  fileExistsArgs,
  fullCloneArgs,
  gitEnv,
  refProblem,
  resolveCommitArgs,
  shallowCloneArgs,
  urlProblem,
} from './git-commands';

export const GIT_BINARY = 'git';
// Builds run in a folder of this name beside the agent's state folder (in the agent's folder).
export const BUILD_FOLDER = 'build';
// A clone that hears nothing for this long is stopped (an unreachable host, a hung transport).
export const GIT_CLONE_TIMEOUT_MS = 5 * 60_000;
export const GIT_QUICK_TIMEOUT_MS = 30_000;
// A build log line longer than this is cut (a progress bar redrawn without newlines).
export const BUILD_LOG_LINE_MAX_CHARS = 2_000;
// Labels the built image carries, so the node can tell where it came from.
export const BUILD_LABELS = { app: 'podploy.app', release: 'podploy.release', commit: 'podploy.git.commit', source: 'podploy.git.url' } as const;

export interface GitBuildRequest {
  app: string;
  release: string;
  url: string;
  ref: string;
  containerfile: string;
  // The tag the image gets, e.g. localhost/podploy-web:r12.
  tag: string;
}

export interface GitBuildDeps {
  podman: PodmanClient;
  // Holds one temporary folder per build while it runs.
  workRoot: string;
  onLog?: (line: string) => void;
  git?: string;
  signal?: AbortSignal;
}

export interface GitBuildResult {
  image: ImageInfo;
  commit: string;
  containerfile: string;
}

export type GitBuildPhase = 'request' | 'clone' | 'ref' | 'containerfile' | 'build';

export class GitBuildError extends Error {
  constructor(
    readonly phase: GitBuildPhase,
    message: string,
  ) {
    super(message);
    this.name = 'GitBuildError';
  }
}

export async function buildFromGit(req: GitBuildRequest, deps: GitBuildDeps): Promise<GitBuildResult> {
  const problem = urlProblem(req.url) ?? refProblem(req.ref) ?? containerfileProblem(req.containerfile);
  if (problem) throw new GitBuildError('request', problem);
  const git = deps.git ?? GIT_BINARY;
  const log = (line: string) => deps.onLog?.(line.length > BUILD_LOG_LINE_MAX_CHARS ? `${line.slice(0, BUILD_LOG_LINE_MAX_CHARS)}…` : line);
  mkdirSync(deps.workRoot, { recursive: true, mode: 0o700 });
  removeLeftovers(deps.workRoot, req.app);
  // App names have no dots, so "APP." names this app's folders only.
  const work = mkdtempSync(join(deps.workRoot, `${req.app}.${req.release}.`));
  const repo = join(work, 'repo.git');
  try {
    log(`git: cloning ${req.url} at ${req.ref}`);
    const shallow = await runGit(git, shallowCloneArgs(req.url, req.ref, repo), GIT_CLONE_TIMEOUT_MS, deps.signal);
    if (!shallow.ok) {
      // Not a branch or tag (a commit id?), or a server that refuses shallow clones: fetch it all.
      rmSync(repo, { recursive: true, force: true });
      const full = await runGit(git, fullCloneArgs(req.url, repo), GIT_CLONE_TIMEOUT_MS, deps.signal);
      if (!full.ok) throw new GitBuildError('clone', `git could not clone ${req.url}: ${lastLines(full.stderr || shallow.stderr)}`);
    }
    const resolved = await runGit(git, resolveCommitArgs(repo, req.ref), GIT_QUICK_TIMEOUT_MS, deps.signal);
    const commit = resolved.stdout.trim();
    if (!resolved.ok || !/^[0-9a-f]{40,64}$/.test(commit)) throw new GitBuildError('ref', `${req.url} has no branch, tag or commit "${req.ref}"`);
    log(`git: ${req.ref} is commit ${commit}`);
    const containerfile = await pickContainerfile(git, repo, commit, req.containerfile, deps.signal);
    if (!containerfile) {
      const tried = req.containerfile === CONTAINERFILE_FALLBACKS[0] ? CONTAINERFILE_FALLBACKS.join(' or ') : req.containerfile;
      throw new GitBuildError('containerfile', `${req.url} at ${req.ref} (${commit.slice(0, 12)}) has no ${tried} at the repository's top level`);
    }
    const archive = spawn(git, archiveArgs(repo, commit), { env: gitEnv(process.env), stdio: ['ignore', 'pipe', 'pipe'] });
    const archived = exited(archive);
    let built: { id: string };
    try {
      built = await buildImage(deps.podman, archive.stdout, {
        containerfile,
        tag: req.tag,
        labels: { [BUILD_LABELS.app]: req.app, [BUILD_LABELS.release]: req.release, [BUILD_LABELS.commit]: commit, [BUILD_LABELS.source]: req.url },
        onLog: log,
        signal: deps.signal,
      });
    } catch (err) {
      archive.kill('SIGKILL');
      throw new GitBuildError('build', (err as Error).message);
    }
    const { code, stderr } = await archived;
    if (code !== 0) throw new GitBuildError('build', `git archive of ${commit} failed: ${lastLines(stderr)}`);
    const image = await inspectImage(deps.podman, req.tag);
    if (image.id.replace(/^sha256:/, '') !== built.id.replace(/^sha256:/, '')) log(`note: ${req.tag} is ${image.id}, the build reported ${built.id}`);
    return { image, commit, containerfile };
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}

async function pickContainerfile(git: string, repo: string, commit: string, wanted: string, signal?: AbortSignal): Promise<string | undefined> {
  const candidates = wanted === CONTAINERFILE_FALLBACKS[0] ? [...CONTAINERFILE_FALLBACKS] : [wanted];
  for (const c of candidates) {
    if ((await runGit(git, fileExistsArgs(repo, commit, c), GIT_QUICK_TIMEOUT_MS, signal)).ok) return c;
  }
  return undefined;
}

// A build the agent did not finish (it was killed) leaves its folder; the next build of the
// same app removes it. Builds of one app never overlap (deploys of one app are serialised).
function removeLeftovers(root: string, app: string): void {
  for (const name of readdirSync(root)) {
    if (name.startsWith(`${app}.`)) rmSync(join(root, name), { recursive: true, force: true });
  }
}

interface GitRun {
  ok: boolean;
  stdout: string;
  stderr: string;
}

function runGit(git: string, args: string[], timeoutMs: number, signal?: AbortSignal): Promise<GitRun> {
  return new Promise((resolve) => {
    const child = spawn(git, args, { env: gitEnv(process.env), stdio: ['ignore', 'pipe', 'pipe'], signal });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString('utf8')));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString('utf8')));
    const timer = setTimeout(() => {
      stderr += `\n(stopped after ${timeoutMs} ms)`;
      child.kill('SIGKILL');
    }, timeoutMs);
    child.on('error', (err) => {
      clearTimeout(timer);
      const missing = (err as NodeJS.ErrnoException).code === 'ENOENT';
      resolve({ ok: false, stdout, stderr: missing ? `${git} is not installed on this node (install the "git" package)` : err.message });
    });
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ ok: code === 0, stdout, stderr });
    });
  });
}

function exited(child: ReturnType<typeof spawn>): Promise<{ code: number | null; stderr: string }> {
  let stderr = '';
  child.stderr?.on('data', (d: Buffer) => (stderr += d.toString('utf8')));
  return new Promise((resolve) => {
    child.on('error', (err) => resolve({ code: -1, stderr: err.message }));
    child.on('close', (code) => resolve({ code, stderr }));
  });
}

function lastLines(text: string, n = 3): string {
  const lines = text.split('\n').map((l) => l.trim()).filter(Boolean);
  return lines.slice(-n).join(' / ') || 'no output';
}
