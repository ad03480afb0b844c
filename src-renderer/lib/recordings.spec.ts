import { CONTAINER_SHELL } from '../../proto/terminal-defaults';
import { describe, expect, it } from 'vitest';
import { RecordingsQuery, type RecordingSummary } from '../../src-main/api/contract';
import { DEFAULT_RECORDING_RETENTION_DAYS } from '../../proto/terminal-defaults';
import {
  commandLabel,
  EMPTY_FILTER,
  exitLabel,
  formatRecordingsFilter,
  mergeRecordings,
  parseRecordingsFilter,
  recordingDurationMs,
  recordingMatches,
  recordingsQuery,
  recordingTarget,
  recordingTargetShort,
  retentionLabel,
} from './recordings';

const NOW = 1_800_000_000_000;
const rec = (id: string, over: Partial<RecordingSummary> = {}): RecordingSummary => ({
  id,
  actor: 'admin',
  source: 'desktop',
  node: 'n1',
  app: 'web',
  container: 'podploy-web-v1',
  command: [],
  tty: true,
  cols: 80,
  rows: 24,
  startedAt: NOW - 1000,
  endedAt: null,
  durationMs: null,
  exitCode: null,
  endReason: null,
  state: 'live',
  bytes: 0,
  inputBytes: 0,
  outputBytes: 0,
  ...over,
});

describe('recordings filter', () => {
  it('round-trips through the address and ignores an unknown range', () => {
    const f = { node: 'n1', app: 'web', user: 'alice b', range: '24h' as const };
    expect(parseRecordingsFilter(formatRecordingsFilter(f))).toEqual(f);
    expect(formatRecordingsFilter(EMPTY_FILTER)).toBe('');
    expect(parseRecordingsFilter('?range=1y&node=')).toEqual(EMPTY_FILTER);
  });

  it('becomes a query the contract accepts', () => {
    const q = recordingsQuery({ node: ' n1 ', app: 'web', user: 'alice', range: '7d' }, NOW);
    expect(RecordingsQuery.parse(q)).toEqual({ node: 'n1', app: 'web', actor: 'alice', sinceMs: NOW - 7 * 86_400_000, limit: 500 });
    expect(RecordingsQuery.parse(recordingsQuery(EMPTY_FILTER, NOW))).toEqual({ limit: 500 });
  });

  it('matches a recording from the topic the way the query would', () => {
    const f = { node: 'n1', app: 'web', user: 'admin', range: '1h' as const };
    expect(recordingMatches(rec('a'), f, NOW)).toBe(true);
    expect(recordingMatches(rec('a', { node: 'n2' }), f, NOW)).toBe(false);
    expect(recordingMatches(rec('a', { app: null, container: '' }), f, NOW)).toBe(false);
    expect(recordingMatches(rec('a', { actor: 'eve' }), f, NOW)).toBe(false);
    expect(recordingMatches(rec('a', { startedAt: NOW - 3_600_001 }), f, NOW)).toBe(false);
    expect(recordingMatches(rec('a', { startedAt: NOW - 3_600_001 }), EMPTY_FILTER, NOW)).toBe(true);
  });
});

describe('mergeRecordings', () => {
  it('keeps the newest copy of each id, newest first, within the cap', () => {
    const list = [rec('a', { startedAt: 3 }), rec('b', { startedAt: 2 })];
    const merged = mergeRecordings(list, [rec('b', { startedAt: 2, state: 'ended', exitCode: 0 }), rec('c', { startedAt: 9 })]);
    expect(merged.map((r) => r.id)).toEqual(['c', 'a', 'b']);
    expect(merged[2].state).toBe('ended');
    expect(mergeRecordings(merged, [], 2).map((r) => r.id)).toEqual(['c', 'a']);
  });
});

describe('column texts', () => {
  it('names the target, the command and the exit', () => {
    expect(recordingTarget(rec('a'))).toBe('web / podploy-web-v1');
    expect(recordingTarget(rec('a', { app: null, container: '' }))).toBe('node shell');
    expect(commandLabel([])).toBe('login shell');
    expect(commandLabel([...CONTAINER_SHELL])).toBe('shell');
    expect(recordingTargetShort(rec('a'))).toBe('web');
    expect(recordingTargetShort(rec('a', { app: null, container: '' }))).toBe('node shell');
    expect(commandLabel(['sh', '-c', "echo 'hi' there"])).toBe(`sh -c 'echo '\\''hi'\\'' there'`);
    expect(exitLabel(rec('a'))).toBe('');
    expect(exitLabel(rec('a', { state: 'ended', exitCode: 130 }))).toBe('130');
    expect(exitLabel(rec('a', { state: 'interrupted' }))).toBe('—');
  });

  it('runs a live duration on the clock and takes a finished one as stored', () => {
    expect(recordingDurationMs(rec('a'), NOW)).toBe(1000);
    expect(recordingDurationMs(rec('a', { state: 'ended', durationMs: 42 }), NOW)).toBe(42);
    expect(recordingDurationMs(rec('a', { state: 'interrupted', endedAt: NOW - 400 }), NOW)).toBe(600);
    expect(recordingDurationMs(rec('a', { state: 'interrupted' }), NOW)).toBeNull();
  });

  it('shows the retention beside its default', () => {
    expect(retentionLabel(DEFAULT_RECORDING_RETENTION_DAYS)).toBe('90 days (default)');
    expect(retentionLabel(30)).toBe('30 days (default 90 days)');
    expect(retentionLabel(1)).toBe('1 day (default 90 days)');
    expect(retentionLabel(0)).toBe('kept forever (default 90 days)');
  });
});
