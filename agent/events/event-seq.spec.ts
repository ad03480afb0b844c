import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { EVENT_SEQ_FILE, EventSeq } from './event-seq';
import { memoryLogger } from './nats-test-node';

const dir = mkdtempSync(join(tmpdir(), 'podploy-event-seq-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('EventSeq', () => {
  it('numbers on across restarts, writing the file once per block', () => {
    const a = new EventSeq(dir, undefined, 10);
    expect([a.next(), a.next(), a.next()]).toEqual([1, 2, 3]);
    expect(JSON.parse(readFileSync(join(dir, EVENT_SEQ_FILE), 'utf8'))).toEqual({ reservedThrough: 10 });
    for (let i = 0; i < 8; i++) a.next();
    expect(JSON.parse(readFileSync(join(dir, EVENT_SEQ_FILE), 'utf8'))).toEqual({ reservedThrough: 20 });
    // A restart (or a crash) skips the rest of the block, never repeats a number.
    const b = new EventSeq(dir, undefined, 10);
    expect(b.next()).toBe(21);
  });

  it('continues far above anything before when its file is damaged, and says so', () => {
    writeFileSync(join(dir, EVENT_SEQ_FILE), '{ broken');
    const { log, lines } = memoryLogger();
    const before = Date.now();
    expect(new EventSeq(dir, log).next()).toBeGreaterThan(before);
    expect(lines.find((l) => l.event === 'event_seq_unreadable')?.msg).toMatch(/numbering continues from \d+/);
  });
});
