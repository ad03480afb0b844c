// Test support: a real nats-server on loopback set up as a node's is (JetStream, nkey users for
// the agent and the control plane), plus an "agent" publisher of raw JSON events.
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DiscardPolicy, jetstream, jetstreamManager, RetentionPolicy, StorageType, type JetStreamClient } from '@nats-io/jetstream';
import { connect, nkeyAuthenticator, nkeys, type NatsConnection } from '@nats-io/transport-node';
import { CONTROL_PLANE_CONSUMER, EVENTS_STREAM, EVENTS_SUBJECT_PREFIX, METRICS_STREAM, METRICS_SUBJECT_PREFIX, type MetricsSample, type NodeEvent } from '../../proto/node-events';

export const NATS_SERVER_BINARY = process.env.NATS_SERVER ?? '/usr/sbin/nats-server';

// What the control plane's nkey user may do on a node: read its two streams through its own
// durable consumer, and nothing else (no publishing events, no deleting streams).
export function controlPlanePermissions(): { publish: string[]; subscribe: string[] } {
  const publish = ['$JS.API.INFO'];
  for (const s of [EVENTS_STREAM, METRICS_STREAM]) {
    publish.push(
      `$JS.API.STREAM.INFO.${s}`,
      `$JS.API.CONSUMER.INFO.${s}.${CONTROL_PLANE_CONSUMER}`,
      `$JS.API.CONSUMER.CREATE.${s}.${CONTROL_PLANE_CONSUMER}`,
      `$JS.API.CONSUMER.CREATE.${s}.${CONTROL_PLANE_CONSUMER}.>`,
      `$JS.API.CONSUMER.DURABLE.CREATE.${s}.${CONTROL_PLANE_CONSUMER}`,
      `$JS.API.CONSUMER.MSG.NEXT.${s}.${CONTROL_PLANE_CONSUMER}`,
      `$JS.ACK.${s}.${CONTROL_PLANE_CONSUMER}.>`,
    );
  }
  return { publish, subscribe: ['_INBOX.>'] };
}

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const addr = s.address();
      const port = typeof addr === 'object' && addr ? addr.port : 0;
      s.close(() => resolve(port));
    });
  });
}

export interface TestNatsOptions {
  eventsMaxMsgs?: number;
}

export class TestNatsServer {
  readonly dir = mkdtempSync(join(tmpdir(), 'pp-nats-'));
  readonly agentKey = nkeys.createUser();
  readonly controlPlaneKey = nkeys.createUser();
  port = 0;
  private proc: ChildProcess | null = null;
  private agent: NatsConnection | null = null;
  private js: JetStreamClient | null = null;
  private seq = 0;

  constructor(private opts: TestNatsOptions = {}) {}

  get controlPlaneSeed(): Uint8Array {
    return this.controlPlaneKey.getSeed();
  }

  async start(): Promise<void> {
    if (!this.port) this.port = await freePort();
    const cp = controlPlanePermissions();
    const config = `listen: 127.0.0.1:${this.port}
jetstream { store_dir: ${JSON.stringify(join(this.dir, 'js'))}, max_memory_store: 64MB, max_file_store: 1GB }
authorization {
  users: [
    { nkey: ${this.agentKey.getPublicKey()}, permissions: { publish: ">", subscribe: ">" } }
    { nkey: ${this.controlPlaneKey.getPublicKey()}, permissions: { publish: { allow: ${JSON.stringify(cp.publish)} }, subscribe: { allow: ${JSON.stringify(cp.subscribe)} } } }
  ]
}
`;
    writeFileSync(join(this.dir, 'nats.conf'), config);
    const proc = spawn(NATS_SERVER_BINARY, ['-c', join(this.dir, 'nats.conf')], { stdio: ['ignore', 'ignore', 'pipe'] });
    this.proc = proc;
    let log = '';
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`nats-server did not start: ${log}`)), 10_000);
      proc.stderr!.on('data', (d: Buffer) => {
        log += d.toString();
        if (log.includes('Server is ready')) {
          clearTimeout(timer);
          resolve();
        }
      });
      proc.once('exit', (code) => {
        clearTimeout(timer);
        reject(new Error(`nats-server exited (${code}): ${log}`));
      });
    });
    proc.stderr!.resume();
  }

  async stop(): Promise<void> {
    await this.agent?.close().catch(() => {});
    this.agent = null;
    this.js = null;
    const proc = this.proc;
    this.proc = null;
    if (proc && proc.exitCode === null) {
      const exited = new Promise((r) => proc.once('exit', r));
      proc.kill('SIGTERM');
      await exited;
    }
  }

  async destroy(): Promise<void> {
    await this.stop();
    rmSync(this.dir, { recursive: true, force: true });
  }

  // Connects as the agent and creates the streams as the agent does.
  async agentJs(): Promise<JetStreamClient> {
    if (this.js) return this.js;
    const nc = await connect({ servers: `127.0.0.1:${this.port}`, authenticator: nkeyAuthenticator(this.agentKey.getSeed()) });
    const jsm = await jetstreamManager(nc);
    const limits = { retention: RetentionPolicy.Limits, storage: StorageType.File, discard: DiscardPolicy.Old, duplicate_window: 120_000_000_000 };
    await jsm.streams.add({ name: EVENTS_STREAM, subjects: [`${EVENTS_SUBJECT_PREFIX}.>`], max_msgs: this.opts.eventsMaxMsgs ?? -1, ...limits }).catch(async () => {});
    await jsm.streams.add({ name: METRICS_STREAM, subjects: [`${METRICS_SUBJECT_PREFIX}.>`], ...limits }).catch(async () => {});
    this.agent = nc;
    this.js = jetstream(nc);
    return this.js;
  }

  event(over: Partial<NodeEvent> = {}): NodeEvent {
    const seq = ++this.seq;
    return { id: `ev-${seq}-${Math.random().toString(36).slice(2, 8)}`, node: 'n', seq, atMs: 1_800_000_000_000 + seq, kind: 'container.started', severity: 'info', message: `event ${seq}`, ...over };
  }

  // Publishes events as the agent does (JSON, Nats-Msg-Id = id), pipelined, awaiting every ack.
  async publish(events: NodeEvent[]): Promise<void> {
    const js = await this.agentJs();
    const window = 500;
    for (let i = 0; i < events.length; i += window) {
      await Promise.all(
        events.slice(i, i + window).map((e) => js.publish(`${EVENTS_SUBJECT_PREFIX}.${e.kind}`, JSON.stringify(e), { msgID: e.id })),
      );
    }
  }

  async publishRaw(subject: string, body: string): Promise<void> {
    const js = await this.agentJs();
    await js.publish(subject, body);
  }

  async publishSamples(samples: MetricsSample[]): Promise<void> {
    const js = await this.agentJs();
    await Promise.all(samples.map((s) => js.publish(`${METRICS_SUBJECT_PREFIX}.${s.app}`, JSON.stringify(s), { msgID: s.id })));
  }
}
