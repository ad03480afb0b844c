import { mkdtempSync, readFileSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import type { ServerMessage } from './api/contract';
import { ApiSession } from './api/session';
import { createControlPlane, DB_FILE, type ControlPlane } from './control-plane';

const open: ControlPlane[] = [];
afterEach(async () => {
  while (open.length) await open.pop()!.close();
});

async function start(dir = mkdtempSync(join(tmpdir(), 'pp-cp-'))) {
  // No agent is uploaded in these tests; any file stands in for the bundle.
  const cp = await createControlPlane({ dataDir: dir, agentBundlePath: join(dir, 'master.key') });
  open.push(cp);
  return { cp, dir };
}

const cli = { actor: 'admin', source: 'cli' as const };

describe('control plane core', () => {
  it('creates the admin token once, stores only its digest, and a 0600 master key', async () => {
    const { cp, dir } = await start();
    expect(cp.firstAdminToken).toMatch(/^pp_/);
    expect(cp.tokens.verify(cp.firstAdminToken!)).toBe('admin');
    expect(cp.tokens.verify('pp_wrong')).toBeNull();
    expect(statSync(join(dir, 'master.key')).mode & 0o777).toBe(0o600);
    const token = cp.firstAdminToken!;
    await cp.close();
    open.pop();
    const db = readFileSync(join(dir, DB_FILE));
    expect(db.includes(Buffer.from(token))).toBe(false);
    const again = await start(dir);
    expect(again.cp.firstAdminToken).toBeNull();
    expect(again.cp.tokens.verify(token)).toBe('admin');
  });

  it('keeps the CA and signing keys sealed in the database', async () => {
    const { cp, dir } = await start();
    await cp.close();
    open.pop();
    const db = readFileSync(join(dir, DB_FILE));
    expect(db.includes(Buffer.from('PRIVATE KEY'))).toBe(false);
  });

  it('uses WAL mode', async () => {
    const { cp } = await start();
    expect(cp.db.$client.pragma('journal_mode', { simple: true })).toBe('wal');
  });

  it('rejects malformed input with a clear error and records nothing half-done', async () => {
    const { cp } = await start();
    await expect(cp.router.call('nodes.add', { address: 'not-an-address', auth: { kind: 'password', password: 'x' } }, cli)).rejects.toMatchObject({
      code: 'invalid_input',
      message: expect.stringContaining("must start with 'ssh://'"),
    });
    await expect(cp.router.call('nodes.add', { address: 'ssh://a@h', auth: { kind: 'nope' } }, cli)).rejects.toMatchObject({ code: 'invalid_input' });
    await expect(cp.router.call('nodes.get', { name: 'ghost' }, cli)).rejects.toMatchObject({ code: 'not_found' });
    await expect(cp.router.call('no.such.op', {}, cli)).rejects.toMatchObject({ code: 'invalid_input' });
    expect(await cp.router.invoke('nodes.list', {}, cli)).toEqual([]);
    const audit = await cp.router.invoke('audit.list', {}, cli);
    expect(audit.map((a) => `${a.action} ${a.result}`)).toEqual(['node.add error']);
    expect(audit[0].detail).toContain("must start with 'ssh://'");
  });

  it('reports an unreachable host as such, with nothing created', async () => {
    const { cp } = await start();
    const progress: string[] = [];
    await expect(
      cp.router.invoke('nodes.add', { address: 'ssh://deploy@127.0.0.1:1', auth: { kind: 'password', password: 'x' }, acceptNewHostKey: true }, cli, (p) =>
        progress.push(`${p.step}:${p.state}`),
      ),
    ).rejects.toMatchObject({ code: 'unreachable', message: expect.stringContaining('ECONNREFUSED') });
    expect(progress).toEqual(['connect:running', 'connect:failed']);
    expect(await cp.router.invoke('nodes.list', {}, cli)).toEqual([]);
  });

  it('authenticates sessions by token and answers calls, progress and errors by id', async () => {
    const { cp } = await start();
    const sent: ServerMessage[] = [];
    const s = new ApiSession(cp.router, { actor: 'anonymous', source: 'browser' }, (m) => sent.push(m), {
      authenticate: (t) => cp.tokens.verify(t),
    });
    s.handle({ type: 'call', id: 1, op: 'nodes.list', input: {} });
    expect(sent.pop()).toMatchObject({ type: 'error', id: 1, error: { code: 'unauthorized' } });
    s.handle({ type: 'auth', token: 'pp_wrong' });
    expect(sent.pop()).toMatchObject({ type: 'error', id: null, error: { code: 'unauthorized' } });
    s.handle({ type: 'auth', token: cp.firstAdminToken, source: 'browser' });
    expect(sent.pop()).toMatchObject({ type: 'ready', session: { user: 'admin', source: 'browser' } });
    s.handle({ type: 'call', id: 2, op: 'nodes.list', input: {} });
    await new Promise((r) => setTimeout(r, 20));
    expect(sent.pop()).toEqual({ type: 'result', id: 2, result: [] });
    s.handle({ type: 'subscribe', topic: 'audit.appended' });
    s.handle({ type: 'call', id: 3, op: 'nodes.add', input: { address: 'bogus', auth: { kind: 'agent' } } });
    await new Promise((r) => setTimeout(r, 20));
    expect(sent.map((m) => m.type)).toEqual(expect.arrayContaining(['event', 'error']));
    expect(sent.find((m) => m.type === 'event')).toMatchObject({ topic: 'audit.appended', payload: { action: 'node.add', result: 'error', source: 'browser' } });
    s.handle('garbage');
    expect(sent.pop()).toMatchObject({ type: 'error', error: { message: 'malformed message' } });
  });
});
