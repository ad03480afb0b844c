// terminal.open/input/resize/ack/eof: a recorded terminal in an app's container or on a node,
// through the node's agent (gRPC Terminal, opened with a signed command). The session id is its
// recording's id. One audit row per session, written when it ends (or when its open failed).
import { randomBytes } from 'node:crypto';
import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import { eq } from 'drizzle-orm';
import { TERMINAL_DEFAULTS } from '../../proto/terminal-defaults';
import { ApiError, type RecordingSummary, type TerminalEvent, type TerminalResult, type TerminalTarget } from '../api/contract';
import type { CallContext, Handlers } from '../api/router';
import type { Fleet } from '../agents/fleet';
import type { AuditLog } from '../audit';
import type { Db } from '../db/database';
import { apps, releases } from '../db/schema';
import type { NodeRow, NodeStore } from '../nodes/node-store';
import { RecordingStore, sessionAuditDetail, toRecordingSummary } from './recording-store';
import { RecordingWriter, recordingFile } from './recording-writer';
import { awaitOpened, TerminalSession, type SessionEnd } from './terminal-session';

export interface TerminalServiceDeps {
  db: Db;
  nodes: NodeStore;
  fleet: Pick<Fleet, 'isOnline' | 'link'>;
  audit: AuditLog;
  store: RecordingStore;
  dataDir: string;
  recordingsKey: Uint8Array;
  publishChanged: (r: RecordingSummary) => void;
}

export const newSessionId = (): string => 'rec_' + randomBytes(16).toString('hex');

export const recordedBanner = (id: string): string =>
  `This session is recorded (${id}). What you type and what it shows are kept encrypted, and the session is listed in the audit log.`;

// The sessions open in this process, by id.
export class TerminalSessions {
  private open = new Map<string, TerminalSession>();

  add(s: TerminalSession): void {
    this.open.set(s.id, s);
  }

  remove(id: string): void {
    this.open.delete(id);
  }

  // Another actor's session is not found, as if it did not exist.
  find(id: string, actor: string): TerminalSession {
    const s = this.open.get(id);
    if (!s || s.actor !== actor) throw new ApiError('not_found', `no open terminal session '${id}' of yours`, 'open one from the UI, or with `podploy exec` / `podploy shell`');
    return s;
  }

  get size(): number {
    return this.open.size;
  }

  // Ends every session and waits until each recording is closed.
  async closeAll(): Promise<void> {
    const all = [...this.open.values()];
    for (const s of all) s.close();
    await Promise.all(all.map((s) => s.done));
  }
}

interface Resolved {
  node: NodeRow;
  app: string | null;
  container: string;
  auditTarget: string;
  what: string;
}

export function terminalHandlers(
  d: TerminalServiceDeps,
  sessions: TerminalSessions,
): Pick<Handlers, 'terminal.open' | 'terminal.input' | 'terminal.resize' | 'terminal.ack' | 'terminal.eof'> {
  async function resolve(t: TerminalTarget): Promise<Resolved> {
    if (t.kind === 'node') {
      const node = d.nodes.byName(t.node);
      if (!node) throw new ApiError('not_found', `no node named '${t.node}'`, 'list nodes with `podploy node list`');
      online(node, `a shell on node '${node.name}'`);
      return { node, app: null, container: '', auditTarget: `node/${node.name}`, what: `a shell on node '${node.name}'` };
    }
    const app = d.db.select().from(apps).where(eq(apps.name, t.app)).get();
    if (!app) throw new ApiError('not_found', `no app named '${t.app}'`, 'list apps with `podploy app list`');
    const node = d.nodes.byId(app.nodeId)!;
    const what = t.release ? `release v${t.release} of app '${app.name}'` : `the live container of app '${app.name}'`;
    online(node, what);
    let container = '';
    if (t.release !== undefined) {
      const rel = d.db.select().from(releases).where(eq(releases.appId, app.id)).all().find((r) => r.number === t.release);
      if (!rel) throw new ApiError('not_found', `app '${app.name}' has no release v${t.release}`, `see \`podploy releases ${app.name}\``);
      const conn = await d.fleet.link(node.id).connection();
      const { containers } = await conn.listContainers(app.name);
      const c = containers.find((x) => x.release === rel.id);
      if (!c) throw new ApiError('not_found', `release v${t.release} of app '${app.name}' has no container on node '${node.name}'`, `see \`podploy ps ${app.name}\``);
      container = c.name;
    }
    return { node, app: app.name, container, auditTarget: `app/${app.name}`, what };
  }

  function online(node: NodeRow, what: string): void {
    if (!d.fleet.isOnline(node.id)) {
      throw new ApiError('unreachable', `node '${node.name}' is offline; ${what} cannot be opened now`, 'bring the node back (podploy node info NAME) and try again');
    }
  }

  return {
    'terminal.open': async (input, ctx, progress) => {
      const id = newSessionId();
      const target = input.target.kind === 'app' ? `app/${input.target.app}` : `node/${input.target.node}`;
      let opened: Awaited<ReturnType<typeof openSession>>;
      try {
        opened = await openSession(id, input, ctx, progress);
      } catch (err) {
        d.audit.record(ctx, 'terminal.session', target, 'error', `open failed: ${err instanceof Error ? err.message : String(err)}`);
        throw err;
      }
      const { session, recorder, row: started } = opened;
      sessions.add(session);
      d.publishChanged(toRecordingSummary(started));
      progress({
        kind: 'opened',
        session: id,
        node: started.nodeName,
        app: started.app,
        container: started.container,
        command: started.command,
        user: opened.user,
        banner: recordedBanner(id),
      });
      const onAbort = () => session.close();
      if (ctx.signal?.aborted) onAbort();
      else ctx.signal?.addEventListener('abort', onAbort, { once: true });
      let end: SessionEnd;
      try {
        end = await session.done;
      } finally {
        ctx.signal?.removeEventListener('abort', onAbort);
        sessions.remove(id);
      }
      const bytes = await recorder.end().catch(() => 0);
      const row = d.store.finish(id, {
        endedAt: Date.now(),
        exitCode: end.exitCode,
        endReason: end.reason,
        state: 'ended',
        bytes,
        inputBytes: session.inputBytes,
        outputBytes: session.outputBytes,
      });
      const summary = toRecordingSummary(row);
      d.publishChanged(summary);
      d.audit.record(ctx, 'terminal.session', opened.auditTarget, end.broke ? 'error' : 'ok', sessionAuditDetail(row));
      const result: TerminalResult = { session: id, exitCode: end.exitCode, reason: end.reason, recording: summary };
      return result;
    },

    'terminal.input': async ({ session, data }, ctx) => {
      sessions.find(session, ctx.actor).input(data);
      return {};
    },
    'terminal.resize': async ({ session, cols, rows }, ctx) => {
      sessions.find(session, ctx.actor).resize(cols, rows);
      return {};
    },
    'terminal.ack': async ({ session, chars }, ctx) => {
      sessions.find(session, ctx.actor).ack(chars);
      return {};
    },
    'terminal.eof': async ({ session }, ctx) => {
      sessions.find(session, ctx.actor).stdinEof();
      return {};
    },
  };

  async function openSession(id: string, input: Parameters<Handlers['terminal.open']>[0], ctx: CallContext, progress: (e: TerminalEvent) => void) {
    const r = await resolve(input.target);
    const conn = await d.fleet.link(r.node.id).connection();
    const stream = conn.terminal(
      {
        sessionId: id,
        app: r.app ?? '',
        container: r.container,
        nodeShell: r.app === null,
        command: input.command,
        tty: input.tty,
        cols: input.cols,
        rows: input.rows,
        env: input.tty ? { TERM: TERMINAL_DEFAULTS.term } : {},
      },
      `${ctx.actor} (${ctx.source})`,
    );
    const opened = await awaitOpened(stream, { node: r.node.name, what: r.what }, ctx.signal);
    const startedAt = Date.now();
    const container = opened.container || r.container;
    const command = opened.command.length ? opened.command : input.command;
    let session!: TerminalSession;
    let recorder: RecordingWriter;
    try {
      recorder = await RecordingWriter.create({
        dataDir: d.dataDir,
        id,
        key: d.recordingsKey,
        startedAt,
        header: {
          version: 2,
          width: input.cols,
          height: input.rows,
          timestamp: Math.floor(startedAt / 1000),
          ...(command.length ? { command: command.join(' ') } : {}),
          title: `${ctx.actor} in ${r.auditTarget}${container ? ` (${container})` : ''}`,
          env: { TERM: TERMINAL_DEFAULTS.term },
          podploy: { session: id, node: r.node.name, app: r.app, container, actor: ctx.actor, source: ctx.source },
        },
        onError: (err) => session?.close(`the recording failed, so the session was ended: ${err.message}`),
      });
    } catch (err) {
      stream.cancel();
      await rm(join(d.dataDir, recordingFile(id)), { force: true });
      throw new ApiError('internal', `the recording of the session could not be created, so it was not opened: ${(err as Error).message}`, 'check free space and permissions of the data folder');
    }
    let row;
    try {
      row = d.store.insert({
        id,
        actor: ctx.actor,
        source: ctx.source,
        nodeId: r.node.id,
        nodeName: r.node.name,
        app: r.app,
        container,
        command,
        tty: input.tty,
        cols: input.cols,
        rows: input.rows,
        startedAt,
        state: 'live',
        file: recordingFile(id),
      });
    } catch (err) {
      stream.cancel();
      await recorder.end().catch(() => 0);
      await rm(join(d.dataDir, recordingFile(id)), { force: true });
      throw err;
    }
    session = new TerminalSession(id, ctx.actor, stream, recorder, (e) => progress(e));
    return { session, recorder, row, user: opened.user, auditTarget: r.auditTarget };
  }
}
