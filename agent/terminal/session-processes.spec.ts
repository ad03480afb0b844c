// Ending a kernel session for real, with real processes: SIGHUP first, SIGKILL for what ignores
// it, nothing left; and a leader pid that belongs to another session now is left alone.
import { spawn } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { endSessions, leaderOf, parseProcStat, sessionMembers } from './session-processes';

describe('parseProcStat', () => {
  it('reads pid, state, ppid, session and start time, also when the name holds spaces and parentheses', () => {
    const fields = ['S', '10', '42', '42', '0', '-1', '4194560', '0', '0', '0', '0', '0', '0', '0', '0', '20', '0', '1', '0', '987654'];
    expect(parseProcStat(`4321 (we (ird) name) ${fields.join(' ')} 0 0`)).toEqual({ pid: 4321, state: 'S', ppid: 10, sid: 42, startTime: 987654 });
  });
});

describe('endSessions', () => {
  it('hangs up every process of the session and kills what ignores SIGHUP', async () => {
    const secs = 300_000 + Math.floor(Math.random() * 100_000);
    const leader = spawn('sh', ['-c', `sleep ${secs} & (trap '' HUP; exec sleep ${secs + 1}) & wait`], { detached: true, stdio: 'ignore' });
    await new Promise((r) => setTimeout(r, 300));
    const session = (await leaderOf(leader.pid!))!;
    const before = await sessionMembers(session);
    expect(before.map((p) => p.pid)).toContain(leader.pid);
    expect(before.length).toBe(3);
    const ended = await endSessions([session], { graceMs: 300 });
    expect(ended).toMatchObject({ hungUp: 3, killed: 1, left: 0 });
    expect(await sessionMembers(session)).toEqual([]);
  });

  it('leaves a session alone when its leader pid now starts at another time (a reused pid)', async () => {
    const other = spawn('sleep', ['30'], { detached: true, stdio: 'ignore' });
    await new Promise((r) => setTimeout(r, 100));
    const real = (await leaderOf(other.pid!))!;
    const ended = await endSessions([{ pid: real.pid, startTime: real.startTime - 1 }], { graceMs: 100 });
    expect(ended.hungUp).toBe(0);
    expect((await sessionMembers(real)).length).toBe(1);
    other.kill('SIGKILL');
  });
});
