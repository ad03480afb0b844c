import { describe, expect, it } from 'vitest';
import { ApiError, DEPLOY_DEFAULTS, HEALTH_DEFAULTS } from '../../src-main/api/contract';
import { buildSpec, fieldOfPath, formatMs, initialForm, parseDomains, parseEnvText, serverErrorField, sourceLabel, type AppForm } from './app-form';

const form = (patch: Partial<AppForm>): AppForm => ({ ...initialForm('h3'), name: 'web', image: 'docker.io/library/nginx:1.27', ...patch });

describe('app form', () => {
  it('splits domains on commas and whitespace, without blanks or repeats', () => {
    expect(parseDomains('')).toEqual([]);
    expect(parseDomains(' a.example.com, b.example.com  c.example.com\nA.example.com,,')).toEqual(['a.example.com', 'b.example.com', 'c.example.com']);
  });

  it('parses KEY=VALUE lines, keeping values verbatim', () => {
    expect(parseEnvText('A=1\n\n# comment\n  B = x=y z\nA=2\r\nEMPTY=')).toEqual({ env: { A: '2', B: ' x=y z', EMPTY: '' }, errors: [] });
    expect(parseEnvText('A=1\nnope\n=x').errors).toEqual(["line 2: 'nope' is not KEY=VALUE", "line 3: '=x' is not KEY=VALUE"]);
  });

  it('starts from the defaults, written out', () => {
    const f = initialForm('n1');
    expect(f.node).toBe('n1');
    expect(f.port).toBe(String(DEPLOY_DEFAULTS.port));
    expect(f.healthPath).toBe(HEALTH_DEFAULTS.path);
    expect(f.intervalMs).toBe(String(HEALTH_DEFAULTS.intervalMs));
    expect(f.deadlineMs).toBe(String(HEALTH_DEFAULTS.deadlineMs));
    expect(f.drainMs).toBe(String(DEPLOY_DEFAULTS.drainMs));
    expect(f.cpus).toBe('');
  });

  it('builds a valid spec; an emptied number means the default', () => {
    const r = buildSpec(form({ domains: 'Example.com www.example.com', env: 'LOG=info', port: '3000', drainMs: '', cpus: '0.5' }));
    expect(r.ok).toBe(true);
    if (!r.ok) return;
    expect(r.spec).toMatchObject({ name: 'web', node: 'h3', source: { kind: 'image', image: 'docker.io/library/nginx:1.27' }, port: 3000, cpus: 0.5, env: { LOG: 'info' } });
    expect(r.spec.domains).toEqual(['Example.com', 'www.example.com']);
    expect('drainMs' in r.spec).toBe(false);
    const git = buildSpec(form({ sourceKind: 'git', gitUrl: 'https://example.com/a.git', gitRef: 'v2' }));
    expect(git.ok && git.spec.source).toEqual({ kind: 'git', url: 'https://example.com/a.git', ref: 'v2', containerfile: 'Containerfile' });
  });

  it("reports the schema's messages beside each field", () => {
    const r = buildSpec(
      form({ name: 'Web_1', node: '', image: 'NOT AN IMAGE', port: '70000', domains: 'ok.example.com bad_domain', env: 'PODPLOY_X=1\n1BAD=2', healthPath: 'health', intervalMs: 'soon' }),
    );
    expect(r.ok).toBe(false);
    if (r.ok) return;
    expect(r.errors.name).toMatch(/an app name is 1-40 lowercase letters/);
    expect(r.errors.node).toBe('choose the node the app runs on');
    expect(r.errors.image).toMatch(/not a valid image reference/);
    expect(r.errors.port).toBeTruthy();
    expect(r.errors.domains).toBe("'bad_domain': not a valid domain name");
    expect(r.errors.env).toContain("'PODPLOY_X': environment keys starting with PODPLOY_ are reserved");
    expect(r.errors.env).toContain("'1BAD': an environment key is letters, digits and underscores");
    expect(r.errors.healthPath).toBe('a health path starts with /');
    expect(r.errors.intervalMs).toBe("'soon' is not a number");
  });

  it('reports a bad env line and cross-field health errors', () => {
    const r = buildSpec(form({ env: 'JUSTTEXT', timeoutMs: '9000', deadlineMs: '5000', sourceKind: 'git', gitUrl: 'ftp://x' }));
    expect(r.ok).toBe(false);
    if (r.ok) return;
    expect(r.errors.env).toBe("line 1: 'JUSTTEXT' is not KEY=VALUE");
    expect(r.errors.timeoutMs).toBe('the health timeout must not exceed the deadline');
    expect(r.errors.gitUrl).toMatch(/a git URL is https:\/\//);
    expect(buildSpec(form({ sourceKind: 'git', gitUrl: '' })).ok).toBe(false);
  });

  it('maps issue paths and server refusals to fields', () => {
    expect(fieldOfPath(['health', 'deadlineMs'], 'image')).toBe('deadlineMs');
    expect(fieldOfPath(['source', 'url'], 'git')).toBe('gitUrl');
    expect(fieldOfPath(['source'], 'image')).toBe('image');
    expect(fieldOfPath(['command', 0], 'image')).toBeNull();
    expect(serverErrorField(new ApiError('conflict', "an app named 'web' exists already"))).toBe('name');
    expect(serverErrorField(new ApiError('conflict', "the domain a.example.com is already routed to app 'web'"))).toBe('domains');
    expect(serverErrorField(new ApiError('not_found', "no node named 'ghost'"))).toBe('node');
    expect(serverErrorField(new ApiError('internal', 'boom'))).toBeNull();
    expect(serverErrorField(new Error('x'))).toBeNull();
  });

  it('formats milliseconds exactly', () => {
    expect(formatMs(0)).toBe('0 s');
    expect(formatMs(1000)).toBe('1 s');
    expect(formatMs(1500)).toBe('1500 ms');
    expect(formatMs(60_000)).toBe('1 min');
    expect(formatMs(90_000)).toBe('90 s');
    expect(sourceLabel({ kind: 'git', url: 'https://x/a.git', ref: 'main', containerfile: 'Containerfile' })).toBe('https://x/a.git @ main');
  });
});
