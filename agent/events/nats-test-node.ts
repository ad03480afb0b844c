// Test helper (not product code): a node's nats-server as the agent runs it (NatsProcess with
// the agent's config), on a free loopback port in a temp dir, with fresh nkeys for the agent and
// the control plane, and a logger that keeps its lines for assertions.
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { connect, nkeyAuthenticator, nkeys, type NatsConnection } from '@nats-io/transport-node';
import pino, { type Logger } from 'pino';
import type { AgentNatsConfig } from '../../proto/agent-config';
import { CONTROL_PLANE_INBOX_PREFIX } from './nats-config';
import { NatsProcess, natsProcessOptions } from './nats-process';

export const TEST_NATS_BINARY = '/usr/sbin/nats-server';

export interface LogLine {
  level: number;
  event?: string;
  msg: string;
  [key: string]: unknown;
}

export function memoryLogger(): { log: Logger; lines: LogLine[] } {
  const lines: LogLine[] = [];
  const sink = new Writable({
    write(chunk: Buffer, _enc, done) {
      for (const l of chunk.toString('utf8').split('\n')) if (l.trim()) lines.push(JSON.parse(l) as LogLine);
      done();
    },
  });
  return { log: pino({ level: 'debug' }, sink), lines };
}

export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const port = (srv.address() as { port: number }).port;
      srv.close(() => resolve(port));
    });
  });
}

export interface TestNode {
  dir: string;
  config: { stateDir: string; runDir: string; logDir: string };
  nats: AgentNatsConfig & { port: number };
  controlPlaneSeed: string;
  process: NatsProcess;
  log: Logger;
  lines: LogLine[];
  connectControlPlane(): Promise<NatsConnection>;
  stop(): Promise<void>;
}

const text = (b: Uint8Array) => new TextDecoder().decode(b);

export async function startTestNode(overrides: Partial<AgentNatsConfig> = {}): Promise<TestNode> {
  const dir = mkdtempSync(join(tmpdir(), 'podploy-nats-'));
  const config = { stateDir: join(dir, 'state'), runDir: join(dir, 'run'), logDir: join(dir, 'log') };
  const agent = nkeys.createUser();
  const cp = nkeys.createUser();
  const nats = { port: await freePort(), binary: TEST_NATS_BINARY, agentSeed: text(agent.getSeed()), controlPlaneNkey: cp.getPublicKey(), ...overrides };
  const { log, lines } = memoryLogger();
  const proc = new NatsProcess({ ...natsProcessOptions(config, nats, log), backoff: { initialMs: 100, maxMs: 400, healthyResetMs: 60_000 } });
  await proc.start();
  await proc.waitReady(10_000);
  const controlPlaneSeed = text(cp.getSeed());
  return {
    dir,
    config,
    nats,
    controlPlaneSeed,
    process: proc,
    log,
    lines,
    connectControlPlane: () =>
      connect({ servers: `127.0.0.1:${nats.port}`, authenticator: nkeyAuthenticator(new TextEncoder().encode(controlPlaneSeed)), inboxPrefix: CONTROL_PLANE_INBOX_PREFIX }),
    stop: async () => {
      await proc.stop();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
