// The git commands a build runs on the node, as argument arrays (pure, so tests assert them
// exactly). The checkout is a bare clone: `git archive` of the commit is the build context, so
// the repository's .git never reaches Podman and no working tree is written.

// Only the transports an operator means; git's `ext::` and friends run commands.
export const GIT_ALLOWED_PROTOCOLS = 'file:git:http:https:ssh';

// Environment for every git call: never prompt (there is no terminal), ssh in batch mode.
export function gitEnv(base: NodeJS.ProcessEnv): NodeJS.ProcessEnv {
  return {
    ...base,
    GIT_TERMINAL_PROMPT: '0',
    GIT_ASKPASS: 'true',
    GIT_SSH_COMMAND: 'ssh -o BatchMode=yes',
    GIT_ALLOW_PROTOCOL: GIT_ALLOWED_PROTOCOLS,
    LC_ALL: 'C',
  };
}

// A branch or a tag: one commit fetched (git can only shallow-clone a named ref). A local path
// becomes a file:// URL, since git ignores --depth for plain paths.
export function shallowCloneArgs(url: string, ref: string, dir: string): string[] {
  return ['clone', '--bare', '--quiet', '--depth', '1', '--single-branch', '--branch', ref, '--', shallowUrl(url), dir];
}

// Any other ref (a commit id, a short id): the whole history, then the ref is resolved in it.
export function fullCloneArgs(url: string, dir: string): string[] {
  return ['clone', '--bare', '--quiet', '--', url, dir];
}

export function resolveCommitArgs(dir: string, ref: string): string[] {
  return ['-C', dir, 'rev-parse', '--verify', '--quiet', `${ref}^{commit}`];
}

export function fileExistsArgs(dir: string, commit: string, path: string): string[] {
  return ['-C', dir, 'cat-file', '-e', `${commit}:${path}`];
}

export function archiveArgs(dir: string, commit: string): string[] {
  return ['-C', dir, 'archive', '--format=tar', commit];
}

function shallowUrl(url: string): string {
  return url.startsWith('/') ? `file://${url}` : url;
}

// What is wrong with a ref, or undefined. Refs never start with "-" (git would read an option).
export function refProblem(ref: string): string | undefined {
  if (!ref) return 'the git ref is empty';
  if (ref.length > 255) return 'the git ref is longer than 255 characters';
  if (!/^[A-Za-z0-9_][A-Za-z0-9._/-]*$/.test(ref) || ref.includes('..') || ref.endsWith('/') || ref.endsWith('.lock') || ref.includes('//')) {
    return `"${ref}" is not a git branch, tag or commit (letters, digits, . _ - /; no "..", not starting with "-")`;
  }
  return undefined;
}

// What is wrong with a Containerfile path inside the repository, or undefined.
export function containerfileProblem(path: string): string | undefined {
  if (!path) return 'the Containerfile path is empty';
  if (path.startsWith('/') || path.split('/').includes('..') || path.startsWith('-') || /[\0\n]/.test(path)) {
    return `"${path}" must be a path inside the repository (relative, without "..")`;
  }
  return undefined;
}

// A URL git may clone: what the app spec allows (https, ssh, git@host:path, file://, an absolute path).
export function urlProblem(url: string): string | undefined {
  if (!/^(https?:\/\/|ssh:\/\/|git@|file:\/\/|git:\/\/|\/)/.test(url) || /[\0\n]/.test(url)) {
    return `"${url}" is not a git URL this node clones (https://, ssh://, git@host:path, git://, file:// or an absolute path)`;
  }
  return undefined;
}

// The candidates when the app names no Containerfile of its own: the default first, then Docker's name.
export const CONTAINERFILE_FALLBACKS = ['Containerfile', 'Dockerfile'] as const;
