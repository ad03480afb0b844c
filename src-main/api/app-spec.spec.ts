import { describe, expect, it } from 'vitest';
import { AppSpec, DEPLOY_DEFAULTS, HEALTH_DEFAULTS, parseEnvPairs, parseVolumeFlags } from './app-spec';

const base = { name: 'web', node: 'n1', source: { kind: 'image', image: 'localhost/app:v1' } } as const;
const issues = (input: unknown) => {
  const r = AppSpec.safeParse(input);
  return r.success ? [] : r.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`);
};

describe('AppSpec', () => {
  it('fills every default from the named constants', () => {
    const s = AppSpec.parse(base);
    expect(s.port).toBe(DEPLOY_DEFAULTS.port);
    expect(s.stopGraceMs).toBe(DEPLOY_DEFAULTS.stopGraceMs);
    expect(s.drainMs).toBe(DEPLOY_DEFAULTS.drainMs);
    expect(s.health).toEqual({ kind: 'http', ...HEALTH_DEFAULTS });
    expect(HEALTH_DEFAULTS).toMatchObject({ intervalMs: 1000, timeoutMs: 5000, deadlineMs: 60000 });
  });

  it('accepts real image references and git sources', () => {
    for (const image of ['nginx', 'docker.io/library/nginx:1.27', 'localhost:5000/team/app:v2', `ghcr.io/a/b@sha256:${'a'.repeat(64)}`]) {
      expect(issues({ ...base, source: { kind: 'image', image } })).toEqual([]);
    }
    expect(AppSpec.parse({ ...base, source: { kind: 'git', url: 'https://example.com/a.git' } }).source).toEqual({
      kind: 'git',
      url: 'https://example.com/a.git',
      ref: 'main',
      containerfile: 'Containerfile',
    });
  });

  it.each([
    [{ ...base, name: 'Web_App' }, 'name: an app name is 1-40 lowercase'],
    [{ ...base, name: '-web' }, 'name: an app name'],
    [{ ...base, env: { '1BAD': 'x' } }, 'env.1BAD: an environment key'],
    [{ ...base, env: { 'HAS-DASH': 'x' } }, 'env.HAS-DASH: an environment key'],
    [{ ...base, env: { PODPLOY_TOKEN: 'x' } }, 'are reserved'],
    [{ ...base, port: 0 }, 'port:'],
    [{ ...base, port: 70000 }, 'port:'],
    [{ ...base, domains: ['bad domain'] }, 'domains.0: not a valid domain'],
    [{ ...base, source: { kind: 'image', image: 'UPPER/Case' } }, 'source.image: not a valid image reference'],
    [{ ...base, source: { kind: 'git', url: 'ftp://x' } }, 'source.url: a git URL'],
    [{ ...base, source: { kind: 'git', url: '/srv/a.git', ref: '--upload-pack=x' } }, 'source.ref: a git ref is a branch, tag or commit'],
    [{ ...base, source: { kind: 'git', url: '/srv/a.git', ref: 'a..b' } }, 'source.ref: not a valid git ref'],
    [{ ...base, source: { kind: 'git', url: '/srv/a.git', containerfile: '../etc/Dockerfile' } }, 'source.containerfile: the Containerfile path is relative'],
    [{ ...base, health: { path: 'health' } }, 'health.path: a health path starts with /'],
    [{ ...base, health: { timeoutMs: 5000, deadlineMs: 2000 } }, 'health.timeoutMs: the health timeout must not exceed the deadline'],
    [{ ...base, volumes: [{ name: 'data', path: 'relative' }] }, 'volumes.0.path: a mount path is absolute'],
  ])('rejects %j with a clear message', (input, expected) => {
    expect(issues(input).join('\n')).toContain(expected);
  });

  it('parses KEY=VALUE pairs and names the bad one', () => {
    expect(parseEnvPairs(['A=1', 'B=x=y', 'EMPTY='])).toEqual({ A: '1', B: 'x=y', EMPTY: '' });
    expect(() => parseEnvPairs(['novalue'])).toThrow("'novalue' is not KEY=VALUE");
    expect(() => parseEnvPairs(['9X=1'])).toThrow("'9X': an environment key");
  });
});

describe('--volume flags', () => {
  it('reads NAME:/PATH and refuses anything else', () => {
    expect(parseVolumeFlags(['data:/var/lib/app', 'cache:/tmp/c'])).toEqual([
      { name: 'data', path: '/var/lib/app' },
      { name: 'cache', path: '/tmp/c' },
    ]);
    expect(() => parseVolumeFlags(['data'])).toThrow("'data' is not NAME:/PATH (e.g. data:/var/lib/app)");
    expect(() => parseVolumeFlags([':/x'])).toThrow('is not NAME:/PATH');
    expect(() => parseVolumeFlags(['data:'])).toThrow('is not NAME:/PATH');
    expect(issues({ ...base, volumes: parseVolumeFlags(['Data:relative']) }).join('; ')).toMatch(/volume name.*mount path is absolute|mount path is absolute.*volume name/);
  });
});
