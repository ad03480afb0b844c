import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import pino, { type Logger } from 'pino';
import { Router } from './api/router';
import type { RecordingSummary } from './api/contract';
import { AuditLog } from './audit';
import { Fleet } from './agents/fleet';
import { loadAgentBundle } from './agents/agent-bundle';
import { Tokens } from './auth/tokens';
import { CommandKey } from './crypto/command-key';
import { FleetCa } from './crypto/fleet-ca';
import { loadOrCreateMasterKey } from './crypto/master-key';
import { Vault } from './crypto/vault';
import { openDatabase, type Db } from './db/database';
import { nodeHandlers } from './nodes/node-service';
import { appHandlers, appsOnNode, appSummaryByName } from './apps/app-service';
import { deployHandlers } from './apps/deploy-service';
import { appRunningHandlers } from './apps/app-running-service';
import { logsHandlers } from './apps/logs-service';
import { NodeStore, toSummary } from './nodes/node-store';
import { pullAuthFor } from './registries/registry-auth';
import { registryHandlers } from './registries/registry-service';
import { RegistryStore } from './registries/registry-store';
import { KnownHosts } from './ssh/known-hosts';
import { readTlsSettings, tlsHandlers, toWire } from './ingress/tls-settings';
import { ensureNodeSecretsKey } from './secrets/node-seal';
import { nodeNatsIdentity } from './events/nats-identity';
import { ReleaseSecrets } from './secrets/release-secrets';
import { SecretStore } from './secrets/secret-store';
import { secretsHandlers } from './secrets/secrets-service';
import type { HostFacts } from './nodes/onboarding/detect';
import { natsPortFor } from './nodes/onboarding/agent-config';
import { AGENT_PORT_BASE } from './nodes/onboarding/agent-files';
import { EventLinkManager } from './events/event-link-manager';
import { EventStore } from './events/event-store';
import { eventsHandlers, nodeNameCache } from './events/events-service';
import { loadOrCreateControlPlaneNkey } from './events/nats-identity';
import { NatsTunnels } from './events/nats-tunnel';
import { recordingsKey } from './crypto/derived-keys';
import { RecordingStore } from './terminal/recording-store';
import { recoverInterruptedRecordings } from './terminal/recording-recovery';
import { Recordings, recordingsHandlers } from './terminal/recordings-service';
import { TerminalSessions, terminalHandlers } from './terminal/terminal-service';
import { Backups } from './backups/backups';
import { backupHandlers } from './backups/backup-service';

export const VERSION = '0.1.0';
export const DB_FILE = 'podploy.db';

export interface ControlPlaneOptions {
  dataDir: string;
  masterKey?: Uint8Array;
  reportIntervalMs?: number;
  logger?: Logger;
  agentBundlePath?: string;
  parseDetect?: (output: string) => HostFacts;
}

export interface ControlPlane {
  router: Router;
  tokens: Tokens;
  db: Db;
  fleet: Fleet;
  events: EventLinkManager;
  version: string;
  // The admin token, when this start created it (first start only).
  firstAdminToken: string | null;
  close(): Promise<void>;
}

// The control-plane core, shared verbatim by the desktop app, `podploy serve` and the tests.
export async function createControlPlane(opts: ControlPlaneOptions): Promise<ControlPlane> {
  mkdirSync(opts.dataDir, { recursive: true, mode: 0o700 });
  const log = opts.logger ?? pino({ level: process.env.PODPLOY_LOG_LEVEL ?? 'info' }, pino.destination(2));
  const masterKey = opts.masterKey ?? loadOrCreateMasterKey(opts.dataDir);
  const db = openDatabase(join(opts.dataDir, DB_FILE));
  const vault = new Vault(db, masterKey);
  const ca = await FleetCa.loadOrCreate(vault);
  const commandKey = CommandKey.loadOrCreate(vault);
  const tokens = new Tokens(db);
  const firstAdminToken = tokens.ensureAdmin();
  const nodes = new NodeStore(db, vault);
  const knownHosts = new KnownHosts(db);
  const registries = new RegistryStore(vault);
  const secretStore = new SecretStore(db, vault);
  const credentials = { caCertPem: ca.caCertPem, client: ca.client, signingKey: commandKey.privateKey };

  let router!: Router;
  const audit = new AuditLog(db, (e) => router.publish('audit.appended', e));
  const fleet = new Fleet(
    {
      nodes,
      knownHosts,
      credentials,
      onChange: (id) => {
        const row = nodes.byId(id);
        if (row) router.publish('nodes.changed', toSummary(row, fleet.isOnline(id)));
      },
      log: (msg, extra) => log.info(extra ?? {}, msg),
    },
    { reportIntervalMs: opts.reportIntervalMs },
  );

  const eventStore = new EventStore(db);
  const nodeName = nodeNameCache(nodes);
  // Every node's nats-server, reached through the SSH connection the fleet holds to it.
  // Its port pairs with the agent's (natsPortFor), so several users of one server can be nodes.
  const natsTunnels = new NatsTunnels((id) => fleet.session(id), (id) => natsPortFor(nodes.byId(id)?.agentPort ?? AGENT_PORT_BASE));
  const natsKey = loadOrCreateControlPlaneNkey(vault);
  const events = new EventLinkManager({
    db,
    store: eventStore,
    endpoint: (id) => natsTunnels.endpoint(id),
    release: (id) => natsTunnels.close(id),
    nkeySeed: () => natsKey.seed,
    nodeName,
    nodeIds: () => nodes.all().map((n) => n.id),
    publish: {
      event: (e) => router.publish('events.appended', e),
      metrics: (m) => router.publish('metrics.appended', m),
      runtime: (r) => router.publish('apps.runtime', r),
    },
    log: { info: (msg, extra) => log.info(extra ?? {}, msg), warn: (msg, extra) => log.warn(extra ?? {}, msg) },
  });

  // Terminal sessions and their sealed recordings (asciicast v2) under <dataDir>/recordings.
  const recordingStore = new RecordingStore(db);
  const terminalSessions = new TerminalSessions();
  const recordingDeps = {
    db,
    store: recordingStore,
    audit,
    dataDir: opts.dataDir,
    recordingsKey: recordingsKey(masterKey),
    publishChanged: (r: RecordingSummary) => router.publish('recordings.changed', r),
    publishDeleted: (id: string) => router.publish('recordings.deleted', { id }),
  };
  const recordings = new Recordings(recordingDeps);

  // Backups: policies pushed to the nodes signed, runs folded from their events; the control
  // plane's own state backed up on its own schedule.
  const backups = new Backups({
    db,
    vault,
    masterKey,
    dataDir: opts.dataDir,
    nodes,
    fleet,
    audit,
    writer: `podploy-control-plane ${VERSION}`,
    publishRun: (r) => router.publish('backups.runs.changed', r),
    publishPolicy: (p) => router.publish('backups.policies.changed', p),
    log: (msg, extra) => log.warn(extra ?? {}, msg),
  });

  router = new Router({
    'session.whoami': async (_i, ctx) => ({ user: ctx.actor, source: ctx.source, version: VERSION }),
    ...nodeHandlers({
      nodes,
      knownHosts,
      ca,
      credentials,
      signingPublicKeyPem: commandKey.publicKeyPem,
      bundle: () => loadAgentBundle(opts.agentBundlePath),
      nodeSecretsKey: (nodeId) => ensureNodeSecretsKey(vault, nodeId),
      natsIdentity: (nodeId) => nodeNatsIdentity(vault, nodeId),
      parseDetect: opts.parseDetect,
      fleet,
      audit,
      publishChanged: (n) => router.publish('nodes.changed', n),
      publishRemoved: (name) => router.publish('nodes.removed', { name }),
      appsOn: (nodeId) => appsOnNode(db, nodeId),
      ingressSettings: () => toWire(readTlsSettings(db)),
    }),
    ...appHandlers({
      db,
      nodes,
      audit,
      publishChanged: (a) => router.publish('apps.changed', a),
      publishDeleted: (name) => router.publish('apps.deleted', { name }),
      fleet,
    }),
    ...appRunningHandlers({ db, nodes, audit, fleet }),
    ...secretsHandlers({ db, store: secretStore, audit }),
    ...deployHandlers({
      db,
      nodes,
      fleet,
      audit,
      secrets: new ReleaseSecrets(secretStore, { vault, nodes }),
      pullAuth: (image, nodeId) => pullAuthFor(registries, { vault, nodes }, image, nodeId),
      onAppChanged: (name) => {
        const app = appSummaryByName(db, nodes, name);
        if (app) router.publish('apps.changed', app);
      },
    }),
    ...logsHandlers({ db, nodes, fleet }),
    ...eventsHandlers({ db, nodes, store: eventStore, links: events, nodeName }),
    ...tlsHandlers({ db, nodes, fleet, audit }),
    ...registryHandlers({ store: registries, audit }),
    'audit.list': async ({ limit, beforeId }) => audit.list(limit, beforeId),
    ...terminalHandlers({ ...recordingDeps, nodes, fleet }, terminalSessions),
    ...recordingsHandlers(recordingDeps, recordings),
    ...backupHandlers({
      backups,
      secretNames: (appId) => secretStore.current(appId).entries.map((e) => e.name),
      redeploy: (name, release, ctx) => router.call('apps.rollback', { name, to: release }, ctx),
    }),
  });

  await recoverInterruptedRecordings(recordingDeps);
  const stopRecordingSweeper = recordings.startSweeper((err) => log.warn({ error: err instanceof Error ? err.message : String(err) }, 'recordings retention sweep failed'));

  fleet.start();
  events.start();
  fleet.watch({ attached: (id) => events.attach(id), detached: (id) => void events.detach(id), linkUp: (id) => events.nudge(id) });
  const stopBackupEvents = router.subscribe('events.appended', (e) => backups.onEvent(e));
  fleet.watch({ attached: () => undefined, detached: () => undefined, linkUp: (id) => void backups.onLinkUp(id) });
  backups.start();
  return {
    router,
    tokens,
    db,
    fleet,
    events,
    version: VERSION,
    firstAdminToken,
    async close() {
      stopRecordingSweeper();
      stopBackupEvents();
      backups.stop();
      await terminalSessions.closeAll();
      await events.stop();
      await fleet.stop();
      db.$client.close();
    },
  };
}
