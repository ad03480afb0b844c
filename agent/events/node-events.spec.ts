import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { jetstreamManager } from '@nats-io/jetstream';
import { connect, nkeyAuthenticator, nkeys } from '@nats-io/transport-node';
import { afterAll, describe, expect, it } from 'vitest';
import { AGENT_PID_FILES, type AgentConfig } from '../../proto/agent-config';
import { EVENTS_STREAM, type NodeEvent } from '../../proto/node-events';
import { isAlive, readPid } from '../supervisor/pid-files';
import { AGENT_INBOX_PREFIX } from './nats-config';
import { answersInfo } from './nats-process';
import { startNodeEvents } from './node-events';
import { freePort, memoryLogger, TEST_NATS_BINARY } from './nats-test-node';

const dir = mkdtempSync(join(tmpdir(), 'podploy-node-events-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const config = (extra: Partial<AgentConfig> = {}): AgentConfig => ({
  nodeId: 'node-e',
  listenHost: '127.0.0.1',
  listenPort: 7443,
  tlsDir: join(dir, 'tls'),
  stateDir: join(dir, 'state'),
  runDir: join(dir, 'run'),
  logDir: join(dir, 'log'),
  podmanSocket: join(dir, 'podman.sock'),
  manageJobs: [],
  ...extra,
});

describe('the agent events wiring', () => {
  it('without a nats section: logs events and warns once that they are not kept', async () => {
    const { log, lines } = memoryLogger();
    const events = startNodeEvents(config(), log);
    events.sink.emit({ kind: 'container.died', app: 'web', message: 'web died', data: { exitCode: 137 } });
    events.startMetrics({ podman: undefined as never, live: () => ({}), restarts: () => 0 });
    await events.stop();
    expect(lines.filter((l) => l.event === 'events_not_kept')).toHaveLength(1);
    expect(lines.find((l) => l.event === 'events_not_kept')?.msg).toMatch(/re-run onboarding for this node/);
    expect(lines.find((l) => l.event === 'node_event')).toMatchObject({ kind: 'container.died', app: 'web', msg: 'web died' });
    expect(events.stats()).toBeNull();
  });

  it('with a nats section: runs nats-server, publishes to JetStream, and stops both', async () => {
    const { log } = memoryLogger();
    const agentSeed = new TextDecoder().decode(nkeys.createUser().getSeed());
    const port = await freePort();
    const c = config({ nats: { agentSeed, controlPlaneNkey: nkeys.createUser().getPublicKey(), port, binary: TEST_NATS_BINARY } });
    const events = startNodeEvents(c, log);
    events.sink.emit({ kind: 'agent.started', message: 'agent started' });
    for (let i = 0; i < 50 && events.stats()!.published === 0; i++) await new Promise((r) => setTimeout(r, 100));
    expect(events.stats()).toMatchObject({ published: 1, queued: 0 });
    const pid = readPid(join(c.runDir, AGENT_PID_FILES.nats))!;
    expect(isAlive(pid)).toBe(true);

    const nc = await connect({ servers: `127.0.0.1:${port}`, authenticator: nkeyAuthenticator(new TextEncoder().encode(agentSeed)), inboxPrefix: AGENT_INBOX_PREFIX });
    const jsm = await jetstreamManager(nc, { checkAPI: false });
    const msg = await jsm.streams.getMessage(EVENTS_STREAM, { seq: 1 });
    expect(msg!.json<NodeEvent>()).toMatchObject({ node: 'node-e', kind: 'agent.started', seq: 1 });
    await nc.close();

    await events.stop();
    expect(isAlive(pid)).toBe(false);
    expect(existsSync(join(c.runDir, AGENT_PID_FILES.nats))).toBe(false);
    expect(await answersInfo(port)).toBe(false);
  });
});
