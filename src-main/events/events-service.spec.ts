// events.* and apps.runtime through a real control plane's router.
import { afterEach, describe, expect, it } from 'vitest';
import type { ControlPlane } from '../control-plane';
import { apps, releases } from '../db/schema';
import { EventStore } from './event-store';
import { controlPlaneWithApp, eventRow } from './events-test-support';

const open: ControlPlane[] = [];
afterEach(async () => {
  while (open.length) await open.pop()!.close();
});

const cli = { actor: 'admin', source: 'cli' as const };

describe('events API', () => {
  it('lists events newest first by node name and app, with clear errors for unknown names and kinds', async () => {
    const cp = await controlPlaneWithApp();
    open.push(cp);
    const store = new EventStore(cp.db);
    const rows = [eventRow({ kind: 'restart.done' }), eventRow({ kind: 'container.died', data: { exitCode: 137 } }), eventRow({ app: null, kind: 'agent.started' })];
    store.storeEvents('n-0', rows, { lastStreamSeq: 3, streamCreated: 't' });
    const all = await cp.router.invoke('events.list', { limit: 10 }, cli);
    expect(all.map((e) => e.id)).toEqual([rows[2].id, rows[1].id, rows[0].id]);
    expect(all[1]).toMatchObject({ node: 'n1', app: 'web', kind: 'container.died', data: { exitCode: 137 } });
    expect((await cp.router.invoke('events.list', { node: 'n1', app: 'web', kinds: ['container'], limit: 10 }, cli)).map((e) => e.id)).toEqual([rows[1].id]);
    await expect(cp.router.call('events.list', { node: 'ghost' }, cli)).rejects.toMatchObject({ code: 'not_found', message: "no node named 'ghost'" });
    await expect(cp.router.call('events.list', { app: 'ghost' }, cli)).rejects.toMatchObject({ code: 'not_found' });
    await expect(cp.router.call('events.list', { kinds: ['DROP TABLE'] }, cli)).rejects.toMatchObject({ code: 'invalid_input', message: "event kind 'DROP TABLE' is not a kind" });
    await expect(cp.router.call('events.list', { limit: 0 }, cli)).rejects.toMatchObject({ code: 'invalid_input' });
    await expect(cp.router.call('events.metrics', { app: 'ghost' }, cli)).rejects.toMatchObject({ code: 'not_found' });
  });

  it('folds apps.runtime from the events since the live release', async () => {
    const cp = await controlPlaneWithApp();
    open.push(cp);
    const store = new EventStore(cp.db);
    expect(await cp.router.invoke('apps.runtime', {}, cli)).toEqual([
      { app: 'web', node: 'n1', state: 'unknown', crashLooping: false, restarts: 0, lastRestartAtMs: null, lastEventAtMs: null, probe: 'none' },
    ]);
    const app = cp.db.select().from(apps).get()!;
    cp.db.insert(releases).values({ id: 'r1', appId: app.id, number: 1, imageRef: 'x', spec: {}, secretVersion: 0, status: 'live', createdBy: 'admin', createdAt: 1_800_000_000_000, finishedAt: 1_800_000_000_000 }).run();
    store.storeEvents('n-0', [eventRow({ kind: 'restart.done' }), eventRow({ kind: 'crashloop.entered' })], { lastStreamSeq: 2, streamCreated: 't' });
    expect(await cp.router.invoke('apps.runtime', { name: 'web' }, cli)).toEqual([expect.objectContaining({ state: 'crash-looping', crashLooping: true, restarts: 1 })]);
    await expect(cp.router.call('apps.runtime', { name: 'ghost' }, cli)).rejects.toMatchObject({ code: 'not_found' });
  });

  it("attaches an event link for every fleet node and says why it is not connected", async () => {
    const cp = await controlPlaneWithApp();
    open.push(cp);
    expect(await cp.router.invoke('events.links', {}, cli)).toEqual([expect.objectContaining({ node: 'n1', connected: false, error: 'no event link (the node is not attached)' })]);
    cp.fleet.attach(cp.nodeRow);
    const end = Date.now() + 10_000;
    let links = await cp.router.invoke('events.links', {}, cli);
    while (!links[0].error?.includes('nats-server') && Date.now() < end) {
      await new Promise((r) => setTimeout(r, 50));
      links = await cp.router.invoke('events.links', {}, cli);
    }
    // No SSH connection to the node: the tunnel refuses and the link says so.
    expect(links[0]).toMatchObject({ node: 'n1', connected: false, stored: 0, lost: 0, error: expect.stringContaining("cannot reach nats-server on node 'n1'") });
    cp.fleet.detach('n-0');
    await new Promise((r) => setTimeout(r, 50));
    expect((await cp.router.invoke('events.links', {}, cli))[0].error).toBe('no event link (the node is not attached)');
  });
});
