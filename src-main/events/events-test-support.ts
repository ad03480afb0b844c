// Test support: a control plane with one node and one app, and stored-event rows.
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createControlPlane, type ControlPlane } from '../control-plane';
import { Vault } from '../crypto/vault';
import { NodeStore, type NodeRow } from '../nodes/node-store';
import type { EventRow } from './event-store';

const cli = { actor: 'admin', source: 'cli' as const };

let n = 0;
export function eventRow(over: Partial<EventRow> = {}): EventRow {
  n++;
  return { id: `e${n}`, nodeId: 'n-0', seq: n, streamSeq: n, atMs: 1_800_000_000_000 + n, receivedAtMs: 1_800_000_000_000 + n, kind: 'container.started', severity: 'info', app: 'web', container: 'web-1', release: null, message: `m${n}`, data: null, ...over };
}

// A control plane with node n1 (id n-0; its SSH port refuses) and app web on it.
export async function controlPlaneWithApp(): Promise<ControlPlane & { nodeRow: NodeRow }> {
  const dir = mkdtempSync(join(tmpdir(), 'pp-cp-events-'));
  const cp = await createControlPlane({ dataDir: dir, agentBundlePath: join(dir, 'master.key'), masterKey: Buffer.alloc(32, 1) });
  const row = new NodeStore(cp.db, new Vault(cp.db, Buffer.alloc(32, 1))).insert({
    id: 'n-0', name: 'n1', host: '127.0.0.1', port: 9, sshUser: 'deploy', hostKeyFingerprint: 'SHA256:x', hostKey: 'AAAA',
    auth: { kind: 'password', password: 'x' }, agentPort: 7443, serviceMode: 'supervisor', agentVersion: '0.1.0', agentSha256: 'x',
    facts: null, usage: null, labels: {}, lastSeenAt: null, createdAt: Date.now(),
  });
  await cp.router.invoke('apps.create', { spec: { name: 'web', node: 'n1', source: { kind: 'image', image: 'localhost/app:v1' } } }, cli);
  return Object.assign(cp, { nodeRow: row });
}

