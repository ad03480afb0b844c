// Node events end to end on test host h9: the node's nats-server and agent publish, the control
// plane reads the node's JetStream through the SSH connection it holds, stores every event once
// in SQLite, and keeps doing so when that SSH connection is cut.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { NodeEventSummary } from '../../src-main/api/contract';
import { prepareAppHost, type AppHost } from '../support/app-host';
import { operator, readPid, sh, waitFor } from '../support/harness';

const NODE = 'h9';
let ah: AppHost;

beforeAll(async () => {
  ah = await prepareAppHost(NODE);
  ah.buildVersion('v1');
}, 300_000);

afterAll(async () => {
  await ah?.close();
});

const link = async () => (await ah.hx.cp.router.invoke('events.links', {}, operator)).find((l) => l.node === NODE)!;
const stored = (nodeId: string) =>
  ah.hx.cp.db.$client.prepare("SELECT COUNT(*) AS n, COUNT(DISTINCT id) AS ids FROM node_events WHERE node_id = ? AND kind != 'events.lost'").get(nodeId) as { n: number; ids: number };

describe('node events over JetStream through SSH', () => {
  it('reads the node stream through the SSH connection and stores its events', async () => {
    const l = await waitFor('the event link up', async () => ((await link()).connected ? link() : undefined), 60_000);
    expect(l.error).toBeNull();
    const events = await waitFor('events from the node', async () => {
      const rows = await ah.hx.cp.router.invoke('events.list', { node: NODE, limit: 100 }, operator);
      return rows.length ? rows : undefined;
    });
    expect(events.every((e) => e.node === NODE)).toBe(true);
    const cli = await ah.hx.cli(['events', '--node', NODE, '--json', '--limit', '5']);
    expect(cli.code, cli.stderr).toBe(0);
    const printed = cli.stdout.trim().split('\n').map((x) => JSON.parse(x) as NodeEventSummary);
    expect(printed.length).toBeGreaterThan(0);
    expect(printed.at(-1)!.id).toBe(events[0].id);
  });

  it('keeps every event exactly once across cut SSH connections and agent restarts', async () => {
    const nodeId = (await ah.hx.cp.router.invoke('nodes.get', { name: NODE }, operator)).id;
    const started = async () => (await ah.hx.cp.router.invoke('events.list', { node: NODE, kinds: ['agent.started'], limit: 1_000 }, operator)).length;
    const before = await started();
    for (let i = 0; i < 3; i++) {
      const pid = readPid(ah.user, 'agent');
      expect(pid).toBeGreaterThan(0);
      // The agent (and the nats-server it supervises) dies; the SSH connection is cut meanwhile.
      sh(`kill -9 ${pid}`);
      ah.hx.cp.fleet.session(nodeId)?.close();
      await waitFor('the agent back', () => (readPid(ah.user, 'agent') !== pid && readPid(ah.user, 'agent') > 0 ? true : undefined), 60_000);
      await waitFor('its start stored', async () => ((await started()) >= before + i + 1 ? true : undefined), 60_000);
    }
    await waitFor('the link back', async () => ((await link()).connected ? true : undefined), 60_000);
    // Every message of the node's stream is stored once: the count matches the stream position.
    const l = await waitFor('caught up', async () => {
      const s = await link();
      return s.stored + s.lost === s.lastStreamSeq && s.stored === stored(nodeId).n ? s : undefined;
    }, 30_000);
    expect(l.lost).toBe(0);
    expect(await started()).toBe(before + 3);
    expect(stored(nodeId)).toEqual({ n: l.stored, ids: l.stored });
  });
});
