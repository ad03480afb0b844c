import { describe, expect, it } from 'vitest';
import type { NodeEventSummary } from '../../src-main/api/contract';
import { compareEvents, eventFigures, eventMatches, filterQuery, isEmptyFilter, mergeEvents, parseEventFilter, queryMatches } from './events';

let n = 0;
const ev = (patch: Partial<NodeEventSummary>): NodeEventSummary => ({
  id: `e${++n}`,
  node: 'h8',
  seq: n,
  atMs: 1_000_000 + n,
  receivedAtMs: 1_000_000 + n,
  kind: 'container.died',
  severity: 'warning',
  app: 'web',
  container: 'c1',
  release: '3',
  message: 'the container died',
  data: null,
  ...patch,
});

describe('event order and merging', () => {
  it('orders newest first, by the node order within one millisecond', () => {
    const a = ev({ atMs: 10, seq: 1 });
    const b = ev({ atMs: 10, seq: 2 });
    const c = ev({ atMs: 20, seq: 0, node: 'h9' });
    expect([a, b, c].sort(compareEvents).map((e) => e.id)).toEqual([c.id, b.id, a.id]);
  });

  it('ignores a redelivered event and keeps the newest max', () => {
    const a = ev({ atMs: 10 });
    const b = ev({ atMs: 20 });
    const list = mergeEvents([], [a, b]);
    expect(list.map((e) => e.id)).toEqual([b.id, a.id]);
    // A page is put in order and rid of repeats too.
    expect(mergeEvents([a, b, a], []).map((e) => e.id)).toEqual([b.id, a.id]);
    expect(mergeEvents(list, [{ ...a }])).toEqual(list);
    const c = ev({ atMs: 30 });
    expect(mergeEvents(list, [c, c], 2).map((e) => e.id)).toEqual([c.id, b.id]);
    // An older page appended below.
    const old = ev({ atMs: 5 });
    expect(mergeEvents(list, [old]).at(-1)!.id).toBe(old.id);
  });
});

describe('event figures', () => {
  it('shows known figures in words, in a fixed order, then the rest', () => {
    expect(eventFigures({ attempt: 3, delayMs: 2000, exitCode: 137 })).toEqual(['exit 137', 'attempt 3', 'delay 2.0 s']);
    expect(eventFigures({ restarts: 1 })).toEqual(['1 restart']);
    expect(eventFigures({ delayMs: 60_000 })).toEqual(['delay 1 min']);
    expect(eventFigures({ delayMs: 0, waitedMs: 270_000 })).toEqual(['delay 0 ms', 'waited 4m 30s']);
    expect(eventFigures({ probe: 'http', reason: 'status 500', failures: 2, threshold: 3 })).toEqual(['2/3 failures', 'probe http', 'reason status 500']);
    expect(eventFigures({ restarts: 5, oomKilled: true, status: 503 })).toEqual(['5 restarts', 'HTTP 503', 'OOM killed']);
    expect(eventFigures({ uptimeMs: 4200, memBytes: 3 * 1024 * 1024, probe: 'http', ready: true })).toEqual(['mem 3.0 MiB', 'probe http', 'ready', 'uptime 4.2 s']);
  });

  it('skips empty values, shortens long texts and stops at max', () => {
    expect(eventFigures(null)).toEqual([]);
    expect(eventFigures({ a: null, b: '', c: false, oomKilled: false })).toEqual([]);
    expect(eventFigures({ reason: 'x'.repeat(60) })[0]).toHaveLength('reason '.length + 40);
    expect(eventFigures({ a: 1, b: 2, c: 3, d: 4, e: 5 }, 2)).toEqual(['a 1', 'b 2']);
  });
});

describe('event filter', () => {
  it('parses keys, comma lists and words', () => {
    const f = parseEventFilter('  app:web kind:restart,crashloop OOM node:H8 severity:error foo:bar ');
    expect(f).toEqual({ node: ['h8'], app: ['web'], kind: ['restart', 'crashloop'], severity: ['error'], words: ['oom', 'foo:bar'] });
    expect(isEmptyFilter(parseEventFilter('  '))).toBe(true);
    expect(isEmptyFilter(f)).toBe(false);
  });

  it('matches kinds by prefix, apps, nodes, severities and words', () => {
    const died = ev({ kind: 'container.died', data: { exitCode: 137 } });
    const sched = ev({ kind: 'restart.scheduled', severity: 'info', app: 'api', node: 'h9', message: 'restart in 2 s' });
    const m = (text: string) => [died, sched].filter((e) => eventMatches(e, parseEventFilter(text))).map((e) => e.kind);
    expect(m('')).toEqual(['container.died', 'restart.scheduled']);
    expect(m('kind:restart')).toEqual(['restart.scheduled']);
    expect(m('kind:restart.')).toEqual(['restart.scheduled']);
    expect(m('kind:res')).toEqual([]);
    expect(m('kind:container.died,restart')).toEqual(['container.died', 'restart.scheduled']);
    expect(m('app:api')).toEqual(['restart.scheduled']);
    expect(m('node:h8')).toEqual(['container.died']);
    expect(m('severity:warning')).toEqual(['container.died']);
    expect(m('exit 137')).toEqual(['container.died']);
    expect(m('RESTART in')).toEqual(['restart.scheduled']);
    expect(m('app:api kind:container')).toEqual([]);
    // An event without an app never matches an app filter.
    expect(eventMatches(ev({ app: null }), parseEventFilter('app:web'))).toBe(false);
  });

  it('hands the control plane what it can filter', () => {
    expect(filterQuery(parseEventFilter('app:web node:h8 kind:restart,crashloop.entered'))).toEqual({
      app: 'web',
      node: 'h8',
      kinds: ['restart.scheduled', 'restart.done', 'restart.failed', 'crashloop.entered'],
    });
    expect(filterQuery(parseEventFilter('app:a,b died'))).toEqual({});
    expect(filterQuery(parseEventFilter('kind:future'))).toEqual({ kinds: ['future'] });
  });

  it('matches live events against the server query', () => {
    const e = ev({ node: 'h8', app: 'web', kind: 'restart.done' });
    expect(queryMatches(e, {})).toBe(true);
    expect(queryMatches(e, { node: 'h8', app: 'web', kinds: ['restart.done'] })).toBe(true);
    expect(queryMatches(e, { node: 'h9' })).toBe(false);
    expect(queryMatches(e, { app: 'api' })).toBe(false);
    expect(queryMatches(e, { kinds: ['restart.scheduled'] })).toBe(false);
    expect(queryMatches(ev({ app: null }), { app: 'web' })).toBe(false);
  });
});
