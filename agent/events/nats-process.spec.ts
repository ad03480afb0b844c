import { spawn } from 'node:child_process';
import { readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { AckPolicy, jetstream, jetstreamManager, RetentionPolicy, StorageType } from '@nats-io/jetstream';
import { connect, errors, nkeyAuthenticator, nkeys } from '@nats-io/transport-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AGENT_PID_FILES } from '../../proto/agent-config';
import { CONTROL_PLANE_CONSUMER, EVENTS_STREAM, STREAM_LIMITS } from '../../proto/node-events';
import { isAlive, readPid, writePid } from '../supervisor/pid-files';
import { AGENT_INBOX_PREFIX, FILE_STORE_HEADROOM_BYTES, natsServerConfig } from './nats-config';
import { answersInfo, NATS_CONFIG_FILE, NATS_DIR, NatsProcess, natsProcessOptions, resolveNatsBinary } from './nats-process';
import { memoryLogger, startTestNode, TEST_NATS_BINARY, type TestNode } from './nats-test-node';

const enc = (s: string) => new TextEncoder().encode(s);

describe('the node nats-server config', () => {
  it('listens on loopback only, without a monitoring port, and sizes the file store from the stream limits', () => {
    const text = natsServerConfig({
      port: 14222,
      storeDir: '/s/nats',
      agentPublicKey: 'UAGENT',
      controlPlaneNkey: 'UCP',
      limits: { eventsMaxMsgs: 10, eventsMaxBytes: 1_000, metricsMaxMsgs: 10, metricsMaxBytes: 2_000, maxAgeMs: STREAM_LIMITS.maxAgeMs },
    });
    expect(text).toContain('listen: "127.0.0.1:14222"');
    expect(text).not.toMatch(/\bhttp|monitor|cluster|leafnodes|websocket/);
    expect(text).toContain(`max_file_store: ${3_000 + FILE_STORE_HEADROOM_BYTES}`);
    expect(text).toContain('store_dir: "/s/nats"');
  });

  it('refuses a config whose nkeys are not user keys, saying which field to fix', () => {
    const { log } = memoryLogger();
    const dirs = { stateDir: '/tmp/x', runDir: '/tmp/x', logDir: '/tmp/x' };
    const cp = nkeys.createUser().getPublicKey();
    expect(() => natsProcessOptions(dirs, { agentSeed: 'SUnotaseed', controlPlaneNkey: cp }, log)).toThrow(/nats\.agentSeed .* not an nkey seed.*re-run onboarding/);
    const accountSeed = new TextDecoder().decode(nkeys.createAccount().getSeed());
    expect(() => natsProcessOptions(dirs, { agentSeed: accountSeed, controlPlaneNkey: cp }, log)).toThrow(/not a user nkey seed/);
    const agentSeed = new TextDecoder().decode(nkeys.createUser().getSeed());
    expect(() => natsProcessOptions(dirs, { agentSeed, controlPlaneNkey: nkeys.createAccount().getPublicKey() }, log)).toThrow(/nats\.controlPlaneNkey .* not an nkey user public key/);
  });

  it('finds nats-server in sbin when PATH lacks it', () => {
    expect(resolveNatsBinary('nats-server', '/nonexistent')).toBe(TEST_NATS_BINARY);
    expect(resolveNatsBinary('/nonexistent/nats-server')).toBeUndefined();
  });
});

describe('the node nats-server (real)', () => {
  let node: TestNode;
  beforeAll(async () => {
    node = await startTestNode();
  });
  afterAll(async () => node?.stop());

  it('writes its config 0600 and runs on the configured loopback port', () => {
    const file = join(node.config.stateDir, NATS_DIR, NATS_CONFIG_FILE);
    expect(statSync(file).mode & 0o777).toBe(0o600);
    expect(statSync(join(node.config.stateDir, NATS_DIR)).mode & 0o777).toBe(0o700);
    expect(readFileSync(file, 'utf8')).toContain(`127.0.0.1:${node.nats.port}`);
    expect(readPid(join(node.config.runDir, AGENT_PID_FILES.nats))).toBe(node.process.pid);
  });

  it('refuses connections without an nkey or with an unknown one', async () => {
    await expect(connect({ servers: `127.0.0.1:${node.nats.port}`, reconnect: false })).rejects.toThrow(/Authorization/i);
    const stranger = nkeys.createUser();
    await expect(connect({ servers: `127.0.0.1:${node.nats.port}`, reconnect: false, authenticator: nkeyAuthenticator(stranger.getSeed()) })).rejects.toThrow(/Authorization/i);
  });

  it('lets the agent publish and manage streams, and the control plane only read and ack', async () => {
    const agent = await connect({ servers: `127.0.0.1:${node.nats.port}`, authenticator: nkeyAuthenticator(enc(node.nats.agentSeed)), inboxPrefix: AGENT_INBOX_PREFIX });
    const cp = await node.connectControlPlane();
    try {
      const ajsm = await jetstreamManager(agent, { checkAPI: false });
      await ajsm.streams.add({ name: EVENTS_STREAM, subjects: ['podploy.events.>'], storage: StorageType.File, retention: RetentionPolicy.Limits, max_msgs: 100 });
      const ack = await jetstream(agent).publish('podploy.events.agent.started', enc('{"n":1}'), { msgID: 'one' });
      expect(ack.seq).toBe(1);

      // The control plane publishes nothing into the streams, and cannot change or delete them.
      const cpjs = jetstream(cp, { timeout: 1_000 });
      await expect(cpjs.publish('podploy.events.agent.started', enc('{"forged":true}'))).rejects.toThrow(/Permissions Violation for Publish to "podploy\.events\.agent\.started"/);
      const cpjsm = await jetstreamManager(cp, { checkAPI: false, timeout: 1_000 });
      await expect(cpjsm.streams.delete(EVENTS_STREAM)).rejects.toThrow(/Permissions Violation for Publish/);
      await expect(cpjsm.streams.purge(EVENTS_STREAM)).rejects.toThrow(/Permissions Violation for Publish/);
      await expect(cpjsm.streams.add({ name: 'OTHER', subjects: ['podploy.other.>'] })).rejects.toThrow(/Permissions Violation for Publish/);
      const snoop = cp.subscribe('podploy.>');
      await expect(snoop.closed).resolves.toBeInstanceOf(errors.PermissionViolationError);

      // ...but it reads through its durable consumer and acks.
      expect((await cpjsm.streams.info(EVENTS_STREAM)).state.messages).toBe(1);
      // Only its own consumer: not one with another name (a push consumer could deliver anywhere).
      await expect(cpjsm.consumers.add(EVENTS_STREAM, { durable_name: 'other', ack_policy: AckPolicy.Explicit })).rejects.toThrow(/Permissions Violation for Publish/);
      await cpjsm.consumers.add(EVENTS_STREAM, { durable_name: CONTROL_PLANE_CONSUMER, ack_policy: AckPolicy.Explicit });
      const consumer = await jetstream(cp).consumers.get(EVENTS_STREAM, CONTROL_PLANE_CONSUMER);
      const msg = await consumer.next({ expires: 2_000 });
      expect(msg?.string()).toBe('{"n":1}');
      await msg!.ackAck();
      expect((await consumer.info()).num_ack_pending).toBe(0);
      expect((await ajsm.streams.info(EVENTS_STREAM)).state.messages).toBe(1);
    } finally {
      await agent.close();
      await cp.close();
    }
  });

  it('restarts nats-server when it dies, and keeps what it stored', async () => {
    const before = node.process.pid!;
    process.kill(before, 'SIGKILL');
    await new Promise((r) => setTimeout(r, 50));
    await node.process.waitReady(10_000);
    expect(node.process.pid).not.toBe(before);
    expect(node.lines.some((l) => l.event === 'nats_exited' && /restarting in/.test(l.msg))).toBe(true);
    const cp = await node.connectControlPlane();
    const jsm = await jetstreamManager(cp, { checkAPI: false });
    expect((await jsm.streams.info(EVENTS_STREAM)).state.messages).toBe(1);
    await cp.close();
  });

  it('stops a nats-server left over by an earlier agent before it starts its own', async () => {
    const { log, lines } = memoryLogger();
    const opts = natsProcessOptions({ ...node.config, runDir: join(node.dir, 'run2'), stateDir: join(node.dir, 'state2') }, { ...node.nats, port: node.nats.port + 1 }, log);
    const first = new NatsProcess(opts);
    await first.start();
    await first.waitReady(10_000);
    await first.stop();
    // An agent killed with SIGKILL leaves its nats-server running and its pid file behind.
    const leftover = spawn(TEST_NATS_BINARY, ['-c', opts.configFile], { stdio: 'ignore' });
    writePid(opts.pidFile, leftover.pid!);
    for (let i = 0; i < 100 && !(await answersInfo(opts.port)); i++) await new Promise((r) => setTimeout(r, 50));
    const second = new NatsProcess(opts);
    await second.start();
    await second.waitReady(10_000);
    expect(isAlive(leftover.pid!)).toBe(false);
    expect(second.pid).not.toBe(leftover.pid);
    expect(lines.some((l) => l.event === 'nats_leftover_stopped')).toBe(true);
    await second.stop();
  });

  it('says what is wrong when nats-server is missing', async () => {
    const { log } = memoryLogger();
    const opts = natsProcessOptions({ ...node.config, runDir: join(node.dir, 'run3'), stateDir: join(node.dir, 'state3') }, { ...node.nats, binary: '/nonexistent/nats-server' }, log);
    const proc = new NatsProcess(opts);
    await proc.start();
    await expect(proc.waitReady(300)).rejects.toThrow(/no nats-server executable.*install Debian's nats-server package/);
    await proc.stop();
  });
});
