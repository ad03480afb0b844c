import { describe, expect, it } from 'vitest';
import { archiveArgs, containerfileProblem, fullCloneArgs, gitEnv, refProblem, resolveCommitArgs, shallowCloneArgs, urlProblem } from './git-commands';

describe('git commands', () => {
  it('clones one commit of a branch or tag, bare, with a local path as a file:// URL', () => {
    expect(shallowCloneArgs('https://git.example/app.git', 'v1.2', '/w/repo.git')).toEqual([
      'clone', '--bare', '--quiet', '--depth', '1', '--single-branch', '--branch', 'v1.2', '--', 'https://git.example/app.git', '/w/repo.git',
    ]);
    expect(shallowCloneArgs('/srv/app.git', 'main', '/w/r')).toContain('file:///srv/app.git');
    expect(fullCloneArgs('/srv/app.git', '/w/r')).toEqual(['clone', '--bare', '--quiet', '--', '/srv/app.git', '/w/r']);
  });

  it('resolves the ref to a commit and archives exactly that commit', () => {
    expect(resolveCommitArgs('/w/r', 'main')).toEqual(['-C', '/w/r', 'rev-parse', '--verify', '--quiet', 'main^{commit}']);
    expect(archiveArgs('/w/r', 'abc')).toEqual(['-C', '/w/r', 'archive', '--format=tar', 'abc']);
  });

  it('never prompts and allows only ordinary transports', () => {
    const env = gitEnv({ PATH: '/usr/bin' });
    expect(env).toMatchObject({ PATH: '/usr/bin', GIT_TERMINAL_PROMPT: '0', GIT_ALLOW_PROTOCOL: 'file:git:http:https:ssh' });
    expect(env.GIT_SSH_COMMAND).toContain('BatchMode=yes');
  });

  it('accepts branches, tags and commit ids, refuses what git would read as an option', () => {
    for (const ok of ['main', 'release/2.1', 'v1.0.0', 'a1b2c3d', 'feature_x']) expect(refProblem(ok)).toBeUndefined();
    for (const bad of ['', '-upload-pack=touch /tmp/x', '--help', 'a..b', 'x/', 'with space', 'x.lock', 'a//b']) expect(refProblem(bad)).toBeDefined();
  });

  it('keeps the Containerfile inside the repository', () => {
    expect(containerfileProblem('Containerfile')).toBeUndefined();
    expect(containerfileProblem('deploy/Dockerfile.prod')).toBeUndefined();
    for (const bad of ['', '/etc/passwd', '../x', 'a/../../x', '-f']) expect(containerfileProblem(bad)).toBeDefined();
  });

  it('clones only https, ssh, git, file URLs and absolute paths', () => {
    for (const ok of ['https://x/y.git', 'ssh://git@x/y', 'git@x:y.git', 'file:///srv/y', '/srv/y.git', 'git://x/y']) expect(urlProblem(ok)).toBeUndefined();
    for (const bad of ['ext::sh -c touch% /tmp/x', '-uhttps://x', 'relative/path', 'fd::3']) expect(urlProblem(bad)).toBeDefined();
  });
});
