// The control plane's own schedules, driven by croner with a per-second expression (operators
// are refused anything under 5 minutes by scheduleProblems; the scheduler itself runs what it is
// given). The run is a recorded stand-in for runControlPlaneBackup, which has its own spec.
import { afterEach, describe, expect, it } from 'vitest';
import { ControlPlaneScheduler } from './control-plane-scheduler';
import type { PolicyRow } from './policy-store';
import type { RunRow } from './run-store';

const policy = (over: Record<string, unknown> = {}): PolicyRow => ({
  id: 'p1', name: 'state', app: null, nodeId: null, version: 1, pushedVersion: 0, pushError: null, createdAt: 0, updatedAt: 0,
  spec: { name: 'state', source: { kind: 'control-plane' }, destinations: ['disk'], schedules: ['* * * * * *'], retryAttempts: 1, retryDelayMs: 1_000, ...over },
});

const until = async (cond: () => boolean, what: string) => {
  const end = Date.now() + 15_000;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
};

let scheduler: ControlPlaneScheduler | null = null;
afterEach(() => scheduler?.stop());

describe('ControlPlaneScheduler', () => {
  it('fires on schedule, never twice at once (a tick during a run is skipped and logged), and retries a failed run', async () => {
    const calls: string[] = [];
    const logs: string[] = [];
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    scheduler = new ControlPlaneScheduler({
      policies: () => [policy()],
      run: async (_p, trigger, attempt) => {
        calls.push(`${trigger}#${attempt}`);
        if (attempt === 1) await gate;
        return { status: attempt === 1 ? 'failed' : 'ok' } as RunRow;
      },
      log: (msg) => logs.push(msg),
    });
    scheduler.start();
    await until(() => calls.length === 1, 'the first scheduled run');
    await until(() => logs.length > 0, 'a skipped tick');
    expect(calls).toEqual(['schedule#1']);
    expect(logs[0]).toBe('a control-plane backup is still running; this schedule tick is skipped');
    expect(scheduler.busy('p1')).toBe(true);
    release();
    await until(() => calls.includes('retry#2'), 'the retry');
    expect(calls[0]).toBe('schedule#1');
    expect(calls.filter((c) => c.startsWith('retry'))).toEqual(['retry#2']);
  });

  it('schedules nothing for a disabled policy, and nothing after stop', async () => {
    const calls: string[] = [];
    let enabled = false;
    scheduler = new ControlPlaneScheduler({ policies: () => [policy({ enabled })], run: async () => (calls.push('run'), { status: 'ok' } as RunRow), log: () => undefined });
    scheduler.start();
    await new Promise((r) => setTimeout(r, 2_200));
    expect(calls).toEqual([]);
    enabled = true;
    scheduler.reload();
    await until(() => calls.length > 0, 'a run once enabled');
    scheduler.stop();
    const n = calls.length;
    await new Promise((r) => setTimeout(r, 1_500));
    expect(calls.length).toBe(n);
  });
});
