// The terminal sessions running on this node, persisted in the agent's state folder so that an
// agent killed mid-session ends what those sessions left running when it starts again.
import { join } from 'node:path';
import { readJson, writeJsonAtomic } from '../state/atomic-file';
import type { Logger } from '../logger';
import { namespacePid } from '../host/namespace-pid';
import { endSessions, type EndedSession, type SessionLeader } from './session-processes';

export const LIVE_TERMINALS_FILE = 'terminal-sessions.json';

export interface LiveTerminal {
  sessionId: string;
  // The container the session runs in (its processes may need an exec `kill` there); absent: a
  // node shell.
  container?: string;
  leaders: SessionLeader[];
  startedAt: string;
}

// Kills pids (host pids) inside a container, for the processes the agent may not signal.
export type ContainerKill = (container: string, namespacePids: number[]) => Promise<void>;

export class LiveTerminals {
  private readonly path: string;
  private sessions: Record<string, LiveTerminal>;

  constructor(stateDir: string) {
    this.path = join(stateDir, LIVE_TERMINALS_FILE);
    this.sessions = readJson<Record<string, LiveTerminal>>(this.path, {});
  }

  list(): LiveTerminal[] {
    return Object.values(this.sessions);
  }

  add(session: LiveTerminal): void {
    this.write({ ...this.sessions, [session.sessionId]: session });
  }

  remove(sessionId: string): void {
    if (!this.sessions[sessionId]) return;
    const { [sessionId]: _gone, ...rest } = this.sessions;
    this.write(rest);
  }

  // At agent start: ends every session a previous agent left (it was killed before it could).
  // At agent stop: ends the open ones (the process exits before their calls' own endings run).
  async endOrphans(containerKill: ContainerKill | undefined, log: Logger, at: 'start' | 'stop' = 'start'): Promise<number> {
    const orphans = this.list();
    for (const s of orphans) {
      const ended = await endLiveTerminal(s, containerKill).catch((err: Error) => {
        log.error({ event: 'terminal_orphan_failed', sessionId: s.sessionId, err: err.message }, `ending the orphaned terminal session ${s.sessionId} failed`);
        return undefined;
      });
      log.warn(
        { event: at === 'start' ? 'terminal_orphan_ended' : 'terminal_ended_at_stop', sessionId: s.sessionId, container: s.container ?? null, processes: ended?.hungUp ?? null, left: ended?.left ?? null },
        at === 'start' ? `terminal session ${s.sessionId} outlived its agent; its processes were ended` : `terminal session ${s.sessionId} ended: the agent is stopping`,
      );
      this.remove(s.sessionId);
    }
    return orphans.length;
  }

  private write(next: Record<string, LiveTerminal>): void {
    writeJsonAtomic(this.path, next);
    this.sessions = next;
  }
}

export function endLiveTerminal(s: LiveTerminal, containerKill: ContainerKill | undefined): Promise<EndedSession> {
  const container = s.container;
  return endSessions(s.leaders, {
    forbidden:
      container && containerKill
        ? async (pids) => {
            const inside = (await Promise.all(pids.map(namespacePid))).filter((p): p is number => !!p && p > 1);
            if (inside.length) await containerKill(container, inside);
          }
        : undefined,
  });
}
