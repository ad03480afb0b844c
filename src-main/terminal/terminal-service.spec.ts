// terminal.* through a real gRPC server with mutual TLS. The agent's side of `rpc Terminal` is
// another helper's unfinished work, so the endpoint here is a STAND-IN Agent service: it verifies
// the signed open like an agent (signature, node, nonce, expiry) and plays scripted programs
// (echo, flood, split UTF-8, hang). The real AgentConnection, TerminalSession, recording writer,
// store and audit log are under test. The wire runs through a TCP relay (the SSH forward's
// place) that the broken-connection test cuts.
import { Server, ServerCredentials, status, type ServerDuplexStream } from '@grpc/grpc-js';
import { generateKeyPairSync } from 'node:crypto';
import { existsSync, mkdtempSync, readdirSync } from 'node:fs';
import { createServer, connect, type Server as NetServer, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { AgentService, type CommandEnvelope, type TerminalInput, type TerminalOutput } from '../../proto/gen/podploy/agent/v1/agent';
import { MemoryNonceStore, verifyCommand } from '../../proto/signing';
import { OPEN_TERMINAL_TTL_MS, TERMINAL_FLOW } from '../../proto/terminal-defaults';
import { agentServerName, CONTROL_PLANE_CN } from '../../proto/tls';
import { TestCa } from '../../test/support/test-ca';
import { AgentConnection } from '../agents/agent-client';
import { AppSpec, TerminalResult, type TerminalEvent } from '../api/contract';
import type { CallContext } from '../api/router';
import { AuditLog } from '../audit';
import { createControlPlane, type ControlPlane } from '../control-plane';
import { Vault } from '../crypto/vault';
import { apps, auditLog, releases } from '../db/schema';
import { NodeStore } from '../nodes/node-store';
import type { SshSession } from '../ssh/ssh-session';
import { parseCast } from './asciicast';
import { RecordingStore } from './recording-store';
import { Recordings, recordingsHandlers } from './recordings-service';
import { REASON_AGENT_BROKE, REASON_CLOSED } from './terminal-session';
import { TerminalSessions, terminalHandlers } from './terminal-service';

const NODE_ID = 'n-term-1';
const alice: CallContext = { actor: 'alice', source: 'browser' };
const signing = generateKeyPairSync('ed25519');
const nonces = new MemoryNonceStore();
const KEY = new Uint8Array(32).fill(7);

// What the stand-in saw, per session id.
const seen = new Map<string, { envelope: CommandEnvelope; halfClosed: boolean; sentChars: number }>();

type Call = ServerDuplexStream<TerminalInput, TerminalOutput>;

// Writes honouring the stream's back-pressure, as a real agent must.
function send(call: Call, msg: TerminalOutput): Promise<void> {
  return new Promise((resolve) => {
    if (call.write(msg)) resolve();
    else call.once('drain', () => resolve());
  });
}

// Ends the call with a status, as grpc-js servers must (destroy(err) sends none).
function refuse(call: Call, code: status, details: string): void {
  call.emit('error', Object.assign(new Error(details), { code, details }));
}

function standInTerminal(call: Call): void {
  let started = false;
  let program: string[] = [];
  let id = '';
  const exit = (code: number, reason: string) => {
    call.write({ exit: { code, reason } });
    call.end();
  };
  call.on('data', (m: TerminalInput) => {
    if (!started) {
      started = true;
      let env: CommandEnvelope;
      try {
        env = verifyCommand(m.open!, signing.publicKey, { nodeId: NODE_ID, nonces });
      } catch (err) {
        refuse(call, status.PERMISSION_DENIED, (err as Error).message);
        return;
      }
      const o = env.openTerminal!;
      if (o.app === 'ghost-container') {
        refuse(call, status.NOT_FOUND, 'app ghost-container has no live container');
        return;
      }
      id = o.sessionId;
      program = o.command;
      seen.set(id, { envelope: env, halfClosed: false, sentChars: 0 });
      call.write({ opened: { container: o.container || `${o.app}-blue`, release: 'r-1', command: o.command, user: 'app', pid: 42 } });
      void run(o.command);
      return;
    }
    if (program[0] !== 'echo') return;
    if (m.data) call.write({ data: Buffer.from(m.data.toString('utf8').toUpperCase()) });
    if (m.resize) call.write({ data: Buffer.from(`[${m.resize.cols}x${m.resize.rows}]`) });
    if (m.stdinEof) exit(0, 'exited');
  });
  call.on('end', () => {
    const s = seen.get(id);
    if (s) s.halfClosed = true;
    exit(-1, 'closed by the caller');
  });
  call.on('error', () => undefined);
  async function run(cmd: string[]) {
    if (cmd[0] === 'utf8') {
      const bytes = Buffer.from('é€!', 'utf8');
      for (const b of bytes) await send(call, { data: Buffer.from([b]) });
      await send(call, { stderr: Buffer.from('warn\n') });
      exit(3, 'exited');
    }
    if (cmd[0] === 'flood') {
      const total = Number(cmd[1]);
      const piece = Buffer.alloc(16 * 1024, 'y');
      const s = seen.get(id)!;
      while (s.sentChars < total && !call.destroyed && !s.halfClosed) {
        await send(call, { data: piece });
        s.sentChars += piece.length;
      }
      if (!s.halfClosed) exit(0, 'exited');
    }
  }
}

let server: Server;
let conn: AgentConnection;
let relay: NetServer;
const relayed = new Set<Socket>();

beforeAll(async () => {
  const ca = await TestCa.create();
  const agentCert = await ca.issue({ commonName: NODE_ID, dnsNames: [agentServerName(NODE_ID)], usage: 'server' });
  const client = await ca.issue({ commonName: CONTROL_PLANE_CN, usage: 'client' });
  server = new Server();
  server.addService(AgentService, {
    terminal: standInTerminal,
    listContainers(call: { request: { app: string } }, cb: (e: null, r: unknown) => void) {
      cb(null, { containers: [{ app: call.request.app, release: 'r-1', slot: 'blue', name: `${call.request.app}-v1`, image: 'i', imageDigest: '', state: 'running', startedAtMs: 1, exitCode: 0, serving: true }] });
    },
  } as never);
  const port = await new Promise<number>((resolve, reject) =>
    server.bindAsync('127.0.0.1:0', ServerCredentials.createSsl(Buffer.from(ca.certPem), [{ cert_chain: Buffer.from(agentCert.certPem), private_key: Buffer.from(agentCert.keyPem) }], true), (err, p) => (err ? reject(err) : resolve(p))),
  );
  relay = createServer((inbound) => {
    const outbound = connect(port, '127.0.0.1');
    relayed.add(inbound).add(outbound);
    inbound.pipe(outbound).pipe(inbound);
    const drop = () => (inbound.destroy(), outbound.destroy());
    inbound.on('error', drop).on('close', drop);
    outbound.on('error', drop).on('close', drop);
  });
  await new Promise<void>((r) => relay.listen(0, '127.0.0.1', () => r()));
  const relayPort = (relay.address() as { port: number }).port;
  const ssh = { forwardLocal: async () => ({ port: relayPort, server: createServer() }) } as unknown as SshSession;
  conn = await AgentConnection.open(ssh, NODE_ID, relayPort, { caCertPem: ca.certPem, client, signingKey: signing.privateKey });
}, 30_000);

afterAll(() => {
  conn?.close();
  server?.forceShutdown();
  relay?.close();
});

const open: ControlPlane[] = [];
afterEach(async () => {
  while (open.length) await open.pop()!.close();
});

async function setup(opts: { online?: boolean } = {}) {
  const dir = mkdtempSync(join(tmpdir(), 'pp-term-'));
  const cp = await createControlPlane({ dataDir: dir, agentBundlePath: join(dir, 'none'), masterKey: Buffer.alloc(32, 1) });
  open.push(cp);
  const nodes = new NodeStore(cp.db, new Vault(cp.db, Buffer.alloc(32, 1)));
  nodes.insert({
    id: NODE_ID, name: 'n1', host: '10.0.0.1', port: 22, sshUser: 'deploy', hostKeyFingerprint: 'SHA256:x', hostKey: 'AAAA',
    auth: { kind: 'agent' }, agentPort: 7443, serviceMode: 'supervisor', agentVersion: '0.1.0', agentSha256: 'x',
    facts: null, usage: null, labels: {}, lastSeenAt: null, createdAt: Date.now(),
  });
  for (const name of ['web', 'ghost-container']) {
    const spec = AppSpec.parse({ name, node: 'n1', source: { kind: 'image', image: 'localhost/app:v1' } });
    cp.db.insert(apps).values({ id: `app-${name}`, name, nodeId: NODE_ID, spec, createdAt: 1, updatedAt: 1 }).run();
  }
  cp.db.insert(releases).values({ id: 'r-1', appId: 'app-web', number: 1, imageRef: 'localhost/app:v1', spec: AppSpec.parse({ name: 'web', node: 'n1', source: { kind: 'image', image: 'localhost/app:v1' } }), secretVersion: 0, status: 'live', createdBy: 'admin', createdAt: 1 }).run();
  const store = new RecordingStore(cp.db);
  const audit = new AuditLog(cp.db);
  const deps = { db: cp.db, store, audit, dataDir: dir, recordingsKey: KEY, publishChanged: () => undefined, publishDeleted: () => undefined };
  const sessions = new TerminalSessions();
  const online = opts.online ?? true;
  const term = terminalHandlers({ ...deps, nodes, fleet: { isOnline: () => online, link: () => ({ connection: async () => conn }) as never } }, sessions);
  const rec = recordingsHandlers(deps, new Recordings(deps));
  const audits = () => cp.db.select().from(auditLog).all();
  const read = async (id: string) => {
    let text = '';
    const r = await rec['recordings.read']({ id }, alice, (c) => (text += c.text));
    return { ...r, text };
  };
  return { dir, cp, term, rec, sessions, audits, read, store };
}

// Opens a session; resolves once `opened` arrived, with the events so far and the result.
async function openTerminal(t: Awaited<ReturnType<typeof setup>>['term'], input: Parameters<typeof t['terminal.open']>[0], ctx: CallContext = alice, onEvent?: (e: TerminalEvent) => void) {
  const events: TerminalEvent[] = [];
  let opened!: (id: string) => void;
  const id = new Promise<string>((r) => (opened = r));
  const result = t['terminal.open'](input, ctx, (e) => {
    if (onEvent && e.kind !== 'opened') onEvent(e);
    else events.push(e);
    if (e.kind === 'opened') opened(e.session);
  });
  const session = await Promise.race([id, result.then((r) => Promise.reject(new Error(`ended before opened: ${r.reason}`)))]);
  const output = () => events.filter((e) => e.kind === 'output').map((e) => (e as { data: string }).data).join('');
  return { session, events, result, output };
}

const openInput = (over: Record<string, unknown> = {}) => ({ target: { kind: 'app' as const, app: 'web' }, command: ['echo'], tty: true, cols: 80, rows: 24, ...over });

async function until(cond: () => boolean, what: string): Promise<void> {
  const end = Date.now() + 10_000;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

describe('terminal sessions through gRPC with mTLS (stand-in agent)', () => {
  it('opens with a signed command, keeps keystroke order, resizes, records and audits once at the end', async () => {
    const s = await setup();
    const t = await openTerminal(s.term, openInput());
    expect(t.session).toMatch(/^rec_[0-9a-f]{32}$/);
    expect(t.events[0]).toMatchObject({ kind: 'opened', session: t.session, node: 'n1', app: 'web', container: 'web-blue', user: 'app', command: ['echo'] });
    expect((t.events[0] as { banner: string }).banner).toContain(`This session is recorded (${t.session})`);
    const signed = seen.get(t.session)!.envelope;
    expect(signed).toMatchObject({ nodeId: NODE_ID, actor: 'alice (browser)', openTerminal: { sessionId: t.session, app: 'web', nodeShell: false, tty: true, cols: 80, rows: 24, env: { TERM: 'xterm-256color' } } });
    expect(signed.expiresAtMs - signed.issuedAtMs).toBe(OPEN_TERMINAL_TTL_MS);
    expect(s.store.byId(t.session)?.state).toBe('live');

    const keys = Array.from({ length: 200 }, (_, i) => String.fromCharCode(97 + (i % 26)));
    // Not awaited one by one: the order of the calls must be the order on the wire.
    await Promise.all(keys.map((k) => s.term['terminal.input']({ session: t.session, data: k }, alice, () => undefined)));
    await s.term['terminal.resize']({ session: t.session, cols: 100, rows: 30 }, alice, () => undefined);
    await until(() => t.output().endsWith('[100x30]'), 'the resize echo');
    expect(t.output()).toBe(keys.join('').toUpperCase() + '[100x30]');
    await expect(s.term['terminal.input']({ session: t.session, data: 'x' }, { actor: 'mallory', source: 'browser' }, () => undefined)).rejects.toMatchObject({ code: 'not_found' });
    expect(s.audits()).toEqual([]);

    await s.term['terminal.eof']({ session: t.session }, alice, () => undefined);
    const result = TerminalResult.parse(await t.result);
    expect(result).toMatchObject({ session: t.session, exitCode: 0, reason: 'exited', recording: { state: 'ended', actor: 'alice', source: 'browser', node: 'n1', app: 'web', container: 'web-blue', inputBytes: 200, outputBytes: 208 } });
    expect(result.recording.bytes).toBeGreaterThan(52);
    await expect(s.term['terminal.input']({ session: t.session, data: 'x' }, alice, () => undefined)).rejects.toMatchObject({ code: 'not_found' });

    const audits = s.audits();
    expect(audits).toHaveLength(1);
    expect(audits[0]).toMatchObject({ actor: 'alice', source: 'browser', action: 'terminal.session', target: 'app/web', result: 'ok' });
    expect(audits[0].detail).toContain(`recording ${t.session}`);
    expect(audits[0].detail).toContain('container web-blue');
    expect(audits[0].detail).toContain('exit 0');

    const read = await s.read(t.session);
    expect(read.truncated).toBe(false);
    const cast = parseCast(read.text);
    expect(cast.header).toMatchObject({ version: 2, width: 80, height: 24, env: { TERM: 'xterm-256color' }, podploy: { session: t.session, node: 'n1', app: 'web', actor: 'alice', source: 'browser' } });
    expect(cast.events.filter((e) => e[1] === 'i').map((e) => e[2]).join('')).toBe(keys.join(''));
    expect(cast.events.filter((e) => e[1] === 'o').map((e) => e[2]).join('')).toBe(t.output());
    expect(cast.events.filter((e) => e[1] === 'r').map((e) => e[2])).toEqual(['100x30']);
    const times = cast.events.map((e) => e[0]);
    expect(times).toEqual([...times].sort((a, b) => a - b));
    expect(s.audits().map((a) => a.action)).toEqual(['terminal.session', 'recording.read']);
  });

  it('decodes UTF-8 split across messages, keeps stderr apart, and returns the exit code', async () => {
    const s = await setup();
    const t = await openTerminal(s.term, openInput({ command: ['utf8'], tty: false }));
    const r = await t.result;
    expect(r.exitCode).toBe(3);
    expect(t.output()).toBe('é€!');
    expect(t.events.filter((e) => e.kind === 'stderr')).toEqual([{ kind: 'stderr', data: 'warn\n' }]);
    expect(seen.get(t.session)!.envelope.openTerminal!.env).toEqual({});
  });

  it('a flood with a slow acker stays bounded: output in flight never passes the high water mark by more than a message', async () => {
    const s = await setup();
    const total = 2 * 1024 * 1024;
    let delivered = 0;
    let acked = 0;
    let maxInFlight = 0;
    let maxAgentAhead = 0;
    let sentChars = () => 0;
    const t = await openTerminal(s.term, openInput({ command: ['flood', String(total)] }), alice, (e) => {
      if (e.kind !== 'output') return;
      delivered += e.data.length;
      maxInFlight = Math.max(maxInFlight, delivered - acked);
      maxAgentAhead = Math.max(maxAgentAhead, sentChars() - acked);
    });
    const stand = seen.get(t.session)!;
    sentChars = () => stand.sentChars;
    // The slow client: acknowledges 32 KiB of what it was shown every 40 ms (about 800 KiB/s),
    // well below what the stand-in sends.
    while (acked < total) {
      await new Promise((r) => setTimeout(r, 40));
      maxAgentAhead = Math.max(maxAgentAhead, stand.sentChars - acked);
      const chunk = Math.min(TERMINAL_FLOW.ackEveryChars, delivered - acked);
      if (chunk > 0) {
        acked += chunk;
        // The session may have ended already (all output was read): an ack then finds nothing.
        await s.term['terminal.ack']({ session: t.session, chars: chunk }, alice, () => undefined).catch(() => undefined);
      }
    }
    const r = await t.result;
    expect(r.exitCode).toBe(0);
    expect(delivered).toBe(total);
    expect(maxInFlight).toBeGreaterThan(TERMINAL_FLOW.highWaterChars - 16 * 1024);
    expect(maxInFlight).toBeLessThanOrEqual(TERMINAL_FLOW.highWaterChars + 16 * 1024);
    // The agent cannot run ahead of the client by more than the window plus gRPC's buffers.
    expect(maxAgentAhead).toBeLessThan(TERMINAL_FLOW.highWaterChars + 1024 * 1024);
    expect(r.recording.outputBytes).toBe(total);
  }, 60_000);

  it('cancel half-closes the stream: the agent ends the process, the session ends "closed by the operator", recorded', async () => {
    const s = await setup();
    const abort = new AbortController();
    const t = await openTerminal(s.term, openInput({ command: ['hang'] }), { ...alice, signal: abort.signal });
    abort.abort();
    const r = await t.result;
    expect(seen.get(t.session)!.halfClosed).toBe(true);
    expect(r).toMatchObject({ exitCode: null, reason: REASON_CLOSED, recording: { state: 'ended' } });
    expect(s.sessions.size).toBe(0);
    expect(s.audits()).toEqual([expect.objectContaining({ action: 'terminal.session', result: 'ok' })]);
  });

  it('a broken agent connection ends the session with its reason and a properly closed recording', async () => {
    const s = await setup();
    const t = await openTerminal(s.term, openInput());
    await s.term['terminal.input']({ session: t.session, data: 'before the break' }, alice, () => undefined);
    await until(() => t.output() === 'BEFORE THE BREAK', 'the echo');
    for (const sock of relayed) sock.destroy();
    const r = await t.result;
    expect(r).toMatchObject({ exitCode: null, reason: REASON_AGENT_BROKE, recording: { state: 'ended', endReason: REASON_AGENT_BROKE } });
    expect(s.audits()).toEqual([expect.objectContaining({ action: 'terminal.session', result: 'error' })]);
    const read = await s.read(t.session);
    expect(read.truncated).toBe(false);
    expect(parseCast(read.text).events.map((e) => e[2])).toEqual(['before the break', 'BEFORE THE BREAK']);
  });

  it('refusals: unknown app or node, node offline, no such container, no such release; each audited, no recording left', async () => {
    const s = await setup();
    const cases = [
      [openInput({ target: { kind: 'app', app: 'nope' } }), { code: 'not_found', message: "no app named 'nope'" }, 'app/nope'],
      [openInput({ target: { kind: 'node', node: 'nope' } }), { code: 'not_found', message: "no node named 'nope'" }, 'node/nope'],
      [openInput({ target: { kind: 'app', app: 'web', release: 7 } }), { code: 'not_found', message: "app 'web' has no release v7" }, 'app/web'],
      [openInput({ target: { kind: 'app', app: 'ghost-container' } }), { code: 'not_found', message: expect.stringContaining('has no live container') }, 'app/ghost-container'],
    ] as const;
    for (const [input, error, target] of cases) {
      await expect(s.term['terminal.open'](input, alice, () => undefined)).rejects.toMatchObject(error);
      expect(s.audits().at(-1)).toMatchObject({ action: 'terminal.session', target, result: 'error' });
    }
    const offline = await setup({ online: false });
    await expect(offline.term['terminal.open'](openInput(), alice, () => undefined)).rejects.toMatchObject({ code: 'unreachable', hint: expect.any(String) });
    expect(s.store.list({ limit: 10 })).toEqual([]);
    expect(existsSync(join(s.dir, 'recordings')) ? readdirSync(join(s.dir, 'recordings')) : []).toEqual([]);
  });

  it('a release target resolves its container through ListContainers', async () => {
    const s = await setup();
    const t = await openTerminal(s.term, openInput({ target: { kind: 'app', app: 'web', release: 1 }, command: ['echo'] }));
    expect(seen.get(t.session)!.envelope.openTerminal!.container).toBe('web-v1');
    await s.term['terminal.eof']({ session: t.session }, alice, () => undefined);
    expect((await t.result).recording.container).toBe('web-v1');
  });
});
