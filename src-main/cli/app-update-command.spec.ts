import { describe, expect, it } from 'vitest';
import { AppSpec } from '../api/contract';
import { applyUpdateFlags, type AppUpdateFlags } from './app-update-command';

const current = AppSpec.parse({ name: 'web', node: 'n1', source: { kind: 'image', image: 'localhost/app:v1' }, domains: ['a.test'], env: { A: '1', B: '2' }, health: { deadlineMs: 8_000 } });
const flags = (f: Partial<AppUpdateFlags>): AppUpdateFlags => ({ domain: [], env: [], unsetEnv: [], ...f });

describe('applyUpdateFlags', () => {
  it('changes only what the flags name', () => {
    const next = applyUpdateFlags(current, flags({ port: 9000, health: '/ready', env: ['B=3', 'C=x=y'], unsetEnv: ['A'] }));
    expect(next).toEqual({ ...current, port: 9000, health: { ...current.health, path: '/ready' }, env: { B: '3', C: 'x=y' } });
    expect(next.health.deadlineMs).toBe(8_000);
    expect(applyUpdateFlags(current, flags({ domain: ['b.test', 'c.test'] })).domains).toEqual(['b.test', 'c.test']);
  });

  it('refuses no flags, bad values and unknown keys, naming the flag', () => {
    expect(() => applyUpdateFlags(current, flags({}))).toThrow('nothing to update');
    expect(() => applyUpdateFlags(current, flags({ port: 0 }))).toThrow(/^--port: /);
    expect(() => applyUpdateFlags(current, flags({ port: Number('abc') }))).toThrow(/^--port: /);
    expect(() => applyUpdateFlags(current, flags({ health: 'ready' }))).toThrow('--health: a health path starts with /');
    expect(() => applyUpdateFlags(current, flags({ domain: ['not a domain'] }))).toThrow('--domain: not a valid domain name');
    expect(() => applyUpdateFlags(current, flags({ env: ['1BAD=x'] }))).toThrow(/^--env '1BAD'/);
    expect(() => applyUpdateFlags(current, flags({ unsetEnv: ['NOPE'] }))).toThrow('--unset-env NOPE: the app has no such environment key');
  });
});
