import { describe, expect, it } from 'vitest';
import { AppSpec } from '../../src-main/api/contract';
import { buildUpdate, changedFields, formFromSpec } from './app-form';

const spec = AppSpec.parse({
  name: 'web',
  node: 'h3',
  source: { kind: 'image', image: 'localhost/app:v1' },
  command: ['/app', '--serve'],
  env: { A: '1', B: 'x=y' },
  domains: ['a.test', 'b.test'],
  volumes: [{ name: 'data', path: '/data' }],
  health: { path: '/ready', deadlineMs: 8_000 },
  memoryMb: 128,
});

describe('configuration editor form', () => {
  it('round-trips a saved configuration unchanged, command and volumes kept', () => {
    const form = formFromSpec(spec);
    expect(form).toMatchObject({ image: 'localhost/app:v1', env: 'A=1\nB=x=y', domains: 'a.test, b.test', healthPath: '/ready', deadlineMs: '8000', cpus: '', memoryMb: '128' });
    const r = buildUpdate(form, spec);
    expect(r.ok && AppSpec.parse(r.spec)).toEqual(spec);
    expect(changedFields(form, spec)).toEqual([]);
  });

  it('names what changed and refuses bad values with the schema messages, field by field', () => {
    const form = { ...formFromSpec(spec), healthPath: '/healthz', domains: 'b.test a.test' };
    expect(changedFields(form, spec)).toEqual(['domains', 'healthPath']);
    expect(changedFields({ ...formFromSpec(spec), domains: 'a.test,b.test' }, spec)).toEqual([]);
    const bad = buildUpdate({ ...form, healthPath: 'healthz', port: '0', timeoutMs: '90000' }, spec);
    expect(bad.ok).toBe(false);
    if (!bad.ok) {
      expect(bad.errors.healthPath).toBe('a health path starts with /');
      expect(bad.errors.port).toMatch(/>=1|at least|too small/i);
      expect(bad.errors.timeoutMs).toBeTruthy();
    }
  });

  it('keeps the name and node whatever the form holds', () => {
    const r = buildUpdate({ ...formFromSpec(spec), name: 'other', node: 'elsewhere' }, spec);
    expect(r.ok && [r.spec.name, r.spec.node]).toEqual(['web', 'h3']);
  });
});
