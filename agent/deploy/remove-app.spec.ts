import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import type { PodmanClient } from '../podman/client';
import { AppStateStore } from './app-state';
import { DeployRefusedError } from './deploy-app';
import { removeApp, type AppRemoverDeps } from './remove-app';

// A Podman that records every request and knows no container.
function fakePodman(calls: string[]): PodmanClient {
  const record = (path: string, o: { method?: string } = {}) => calls.push(`${o.method ?? 'GET'} ${path}`);
  return {
    json: async (path: string, o?: { method?: string }) => (record(path, o), []),
    call: async (path: string, o?: { method?: string }) => (record(path, o), { status: 200, body: '' }),
  } as unknown as PodmanClient;
}

function deps(calls: string[], busy?: { release: string; startedAt: Date; step: string }): AppRemoverDeps & { removed: string[] } {
  const removed: string[] = [];
  return {
    removed,
    podman: fakePodman(calls),
    deployer: { inProgress: () => busy, state: new AppStateStore(mkdtempSync(join(tmpdir(), 'remove-app-'))) },
    ingress: { lookup: () => undefined, known: () => ({}), removeApp: async (app) => (removed.push(app), true) },
  };
}

describe('removeApp', () => {
  it('refuses while a deploy of the app runs, before it asks Podman anything', async () => {
    const calls: string[] = [];
    const d = deps(calls, { release: 'r7', startedAt: new Date(0), step: 'health' });
    await expect(removeApp('web', { removeVolumes: true }, d)).rejects.toThrow(DeployRefusedError);
    await expect(removeApp('web', { removeVolumes: true }, d)).rejects.toThrow(/deploy of release r7 is in progress.*nothing was removed/);
    expect(calls).toEqual([]);
    expect(d.removed).toEqual([]);
  });

  it('an app the node does not know succeeds and says so, changing nothing', async () => {
    const calls: string[] = [];
    const d = deps(calls);
    const r = await removeApp('ghost', { removeVolumes: true }, d);
    expect(r).toMatchObject({ known: false, containers: [], volumes: [], message: 'app ghost is not on this node: nothing to remove' });
    expect(calls.every((c) => c.startsWith('GET /containers/json'))).toBe(true);
    expect(d.removed).toEqual([]);
  });

  it('refuses an invalid app name', async () => {
    const calls: string[] = [];
    await expect(removeApp('../etc', { removeVolumes: false }, deps(calls))).rejects.toThrow(/lowercase letters, digits and dashes/);
    expect(calls).toEqual([]);
  });

  it('has Lazarus forget the app before it asks Podman for its containers, and not while a deploy runs', async () => {
    const calls: string[] = [];
    const d = deps(calls);
    d.lazarus = { forget: (app) => void calls.push(`forget ${app}`) };
    await removeApp('web', { removeVolumes: false }, d);
    expect(calls[0]).toBe('forget web');
    expect(calls[1]).toMatch(/^GET \/containers\/json/);
    const busy = deps([], { release: 'r7', startedAt: new Date(0), step: 'health' });
    const forgotten: string[] = [];
    busy.lazarus = { forget: (app) => void forgotten.push(app) };
    await expect(removeApp('web', { removeVolumes: false }, busy)).rejects.toThrow(DeployRefusedError);
    expect(forgotten).toEqual([]);
  });
});
