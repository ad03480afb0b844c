import { execFile, spawn } from 'node:child_process';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import type { NodeEventSummary } from '../api/contract';
import type { ControlPlane } from '../control-plane';
import { EventStore } from '../events/event-store';
import { controlPlaneWithApp, eventRow } from '../events/events-test-support';
import { startHttpServer } from '../server/http-server';
import { eventsQuery, formatEvent, matchesQuery } from './events-commands';

const ROOT = join(__dirname, '..', '..');
const TSX = join(ROOT, 'node_modules', '.bin', 'tsx');
const MAIN = join(ROOT, 'src-main', 'cli', 'main.ts');

const cleanup: (() => Promise<void>)[] = [];
afterEach(async () => {
  while (cleanup.length) await cleanup.pop()!();
});

const summary = (over: Partial<NodeEventSummary> = {}): NodeEventSummary => ({
  id: 'e1', node: 'n1', seq: 1, atMs: Date.UTC(2026, 10, 27, 9, 0, 0), receivedAtMs: 0, kind: 'restart.done', severity: 'info', app: 'web', container: 'c', release: null, message: 'restarted', data: null, ...over,
});

describe('podploy events flags and output', () => {
  it('builds the query, refusing a bad limit or time', () => {
    const now = Date.UTC(2026, 10, 27, 9, 0, 0);
    expect(eventsQuery({}, now)).toEqual({ limit: 50 });
    expect(eventsQuery({ node: 'n1', app: 'web', kind: ['restart', 'probe.failing'], since: '10m', limit: '5' }, now)).toEqual({ limit: 5, node: 'n1', app: 'web', kinds: ['restart', 'probe.failing'], sinceMs: now - 600_000 });
    expect(() => eventsQuery({ limit: '0' })).toThrow("--limit '0' is not a whole number from 1 to 10000");
    expect(() => eventsQuery({ since: 'yesterday' })).toThrow("since 'yesterday' is neither a duration nor an ISO 8601 time");
  });

  it('filters live events as the history was filtered', () => {
    expect(matchesQuery(summary(), { limit: 1, kinds: ['restart'] })).toBe(true);
    expect(matchesQuery(summary(), { limit: 1, kinds: ['restart.scheduled'] })).toBe(false);
    expect(matchesQuery(summary(), { limit: 1, kinds: ['rest'] })).toBe(false);
    expect(matchesQuery(summary(), { limit: 1, app: 'api' })).toBe(false);
    expect(matchesQuery(summary(), { limit: 1, node: 'n1', app: 'web' })).toBe(true);
  });

  it('prints one line per event, severity only when not info', () => {
    expect(formatEvent(summary())).toBe('2026-11-27T09:00:00.000Z  n1  web  restart.done  restarted\n');
    expect(formatEvent(summary({ severity: 'warning', app: null, kind: 'events.lost', message: '3 lost' }))).toBe('2026-11-27T09:00:00.000Z  n1  -  events.lost  WARNING 3 lost\n');
    expect(JSON.parse(formatEvent(summary(), true))).toEqual(summary());
  });
});

describe('podploy events against a real control plane', () => {
  async function serve(): Promise<{ cp: ControlPlane; url: string; token: string }> {
    const cp = await controlPlaneWithApp();
    const http = await startHttpServer(cp, '127.0.0.1:0');
    cleanup.push(async () => {
      await http.close();
      await cp.close();
    });
    return { cp, url: http.url, token: cp.firstAdminToken! };
  }

  const run = (url: string, token: string, ...args: string[]) =>
    new Promise<{ code: number; stdout: string; stderr: string }>((resolve) => {
      execFile(TSX, [MAIN, '--url', url, '--token', token, ...args], { cwd: ROOT }, (err, stdout, stderr) => resolve({ code: err ? ((err as { code?: number }).code ?? 1) : 0, stdout, stderr }));
    });

  it('prints the history oldest first as JSON lines, filtered; unknown names fail with error: and hint:', async () => {
    const { cp, url, token } = await serve();
    const rows = [eventRow({ kind: 'container.died' }), eventRow({ kind: 'restart.scheduled' }), eventRow({ kind: 'restart.done' }), eventRow({ app: 'api', kind: 'restart.done' })];
    new EventStore(cp.db).storeEvents('n-0', rows, { lastStreamSeq: 4, streamCreated: 't' });
    const r = await run(url, token, 'events', '--app', 'web', '--kind', 'restart', '--json');
    expect(r).toMatchObject({ code: 0, stderr: '' });
    const printed = r.stdout.trim().split('\n').map((l) => JSON.parse(l) as NodeEventSummary);
    expect(printed.map((e) => [e.id, e.node, e.kind])).toEqual([
      [rows[1].id, 'n1', 'restart.scheduled'],
      [rows[2].id, 'n1', 'restart.done'],
    ]);
    expect(await run(url, token, 'events', '--node', 'ghost')).toEqual({ code: 1, stdout: '', stderr: "error: no node named 'ghost'\nhint: list nodes with `podploy node list`\n" });
    expect((await run(url, token, 'events', '--limit', 'many')).stderr).toBe("error: --limit 'many' is not a whole number from 1 to 10000\nhint: e.g. --limit 200\n");
  });

  it('-f prints the history, then new events as they are stored, until Ctrl-C (exit 0)', async () => {
    const { cp, url, token } = await serve();
    const store = new EventStore(cp.db);
    const old = eventRow({ kind: 'container.started' });
    store.storeEvents('n-0', [old], { lastStreamSeq: 1, streamCreated: 't' });
    const child = spawn(TSX, [MAIN, '--url', url, '--token', token, 'events', '-f', '--app', 'web'], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    const until = async (cond: () => boolean) => {
      const end = Date.now() + 20_000;
      while (!cond()) {
        if (Date.now() > end) throw new Error(`timed out; output so far: ${out}`);
        await new Promise((r) => setTimeout(r, 50));
      }
    };
    await until(() => out.includes(old.message));
    const live = eventRow({ kind: 'crashloop.entered', severity: 'warning', message: 'crash loop: 5 restarts in 10 min' });
    const other = eventRow({ app: 'api', kind: 'restart.done', message: 'not for web' });
    cp.router.publish('events.appended', { ...live, node: 'n1' });
    cp.router.publish('events.appended', { ...other, node: 'n1' });
    cp.router.publish('events.appended', { ...live, node: 'n1' });
    await until(() => out.includes(live.message));
    const code = new Promise<number | null>((r) => child.once('exit', (c) => r(c)));
    child.kill('SIGINT');
    expect(await code).toBe(0);
    expect(out.trim().split('\n')).toEqual([expect.stringContaining(`container.started  ${old.message}`), expect.stringContaining('crashloop.entered  WARNING crash loop: 5 restarts in 10 min')]);
  });
});
