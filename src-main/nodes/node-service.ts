import { ApiError, type NodeSummary } from '../api/contract';
import type { Handlers } from '../api/router';
import type { AuditLog } from '../audit';
import type { Fleet } from '../agents/fleet';
import type { KnownHosts } from '../ssh/known-hosts';
import { parseSshAddress } from '../ssh/ssh-address';
import { SshSession, type HostKeySeen } from '../ssh/ssh-session';
import { toSummary, type NodeRow, type NodeStore } from './node-store';
import {
  agentPaths,
  removeAgentDirCommand,
  removeContainersCommand,
  stopByPidFileCommand,
  stopSystemdAgent,
} from './onboarding/agent-files';
import { onboardNode, type OnboardDeps } from './onboarding/onboard';
import { q } from './onboarding/shell';

export interface NodeServiceDeps extends OnboardDeps {
  fleet: Fleet;
  audit: AuditLog;
  knownHosts: KnownHosts;
  nodes: NodeStore;
  publishChanged: (n: NodeSummary) => void;
  publishRemoved: (name: string) => void;
  appsOn: (nodeId: string) => string[];
}

const PROBE_DONE = new ApiError('internal', 'probe complete');

export function nodeHandlers(d: NodeServiceDeps): Pick<Handlers, 'nodes.list' | 'nodes.get' | 'nodes.probe' | 'nodes.add' | 'nodes.remove' | 'nodes.setLabels'> {
  const summary = (row: NodeRow) => toSummary(row, d.fleet.isOnline(row.id));
  const busy = new Set<string>();

  return {
    'nodes.list': async () => d.nodes.all().map(summary),
    'nodes.get': async ({ name }) => summary(d.nodes.require(name)),

    // Fetches the server's host key without sending any credentials, so the operator can confirm
    // the fingerprint before trusting the server with a password or key.
    'nodes.probe': async ({ address, auth }) => {
      const addr = parseSshAddress(address);
      let seen: HostKeySeen | null = null;
      await SshSession.connect(addr, auth, {
        verifyHostKey: (k) => {
          seen = k;
          return PROBE_DONE;
        },
      }).catch((err) => {
        if (err !== PROBE_DONE) throw err;
      });
      if (!seen) throw new ApiError('unreachable', `${addr.host}:${addr.port} did not present a host key`);
      const key = seen as HostKeySeen;
      return { ...addr, fingerprint: key.fingerprint, keyType: key.keyType, known: d.knownHosts.status(addr.host, addr.port, key) };
    },

    'nodes.add': async (input, ctx, progress) => {
      const { node, changed } = await d.audit.around(
        ctx,
        'node.add',
        input.name ?? input.address,
        async () => {
          const addr = parseSshAddress(input.address);
          const key = `${addr.user}@${addr.host}:${addr.port}`;
          if (busy.has(key)) throw new ApiError('conflict', `${key} is being onboarded already`, 'wait for that onboarding to finish');
          busy.add(key);
          try {
            const result = await onboardNode(input, d, progress);
            d.fleet.attach(result.row, true);
            const node = summary(d.nodes.byId(result.row.id)!);
            d.publishChanged(node);
            return { node, changed: result.changed, timings: result.timings };
          } finally {
            busy.delete(key);
          }
        },
        (r) =>
          `${r.node.name} ${r.changed ? 'onboarded' : 'already onboarded, nothing changed'} (${Object.entries(r.timings)
            .map(([step, ms]) => `${step} ${ms} ms`)
            .join(', ')})`,
      );
      return { node, changed };
    },

    'nodes.remove': async ({ name, removeContainers }, ctx) =>
      d.audit.around(ctx, 'node.remove', name, async () => {
        const row = d.nodes.require(name);
        const hosted = d.appsOn(row.id);
        if (hosted.length) {
          throw new ApiError('conflict', `node '${name}' still runs apps: ${hosted.join(', ')}`, 'delete or move those apps first; nothing was changed');
        }
        const steps: string[] = [];
        const ssh = await SshSession.connect({ user: row.sshUser, host: row.host, port: row.port }, d.nodes.auth(row), {
          verifyHostKey: d.knownHosts.verifier(row.host, row.port, {}),
        });
        try {
          const home = (await ssh.run('printf %s "$HOME"', 'reading $HOME')).trim();
          const paths = agentPaths(home);
          d.fleet.detach(row.id);
          if (row.serviceMode === 'systemd') {
            await ssh.run(stopSystemdAgent(paths), 'stopping the agent unit');
            steps.push('stopped and removed the systemd user unit');
          } else {
            await ssh.run(stopByPidFileCommand(paths.supervisorPid), 'stopping the agent supervisor');
            await ssh.run(stopByPidFileCommand(paths.podmanPid), 'stopping the interim Podman service');
            steps.push('stopped the agent supervisor, the agent and its Podman service');
          }
          if (removeContainers) {
            await ssh.run(removeContainersCommand(), 'removing containers');
            steps.push("removed the user's containers");
          } else {
            steps.push("left the user's containers alone");
          }
          await ssh.run(removeAgentDirCommand(paths), 'removing agent files');
          const left = await ssh.exec(`test -e ${q(paths.dir)}`);
          if (left.code === 0) throw new ApiError('agent_failed', `${paths.dir} is still there after removal`);
          steps.push(`removed ${paths.dir}`);
        } finally {
          ssh.close();
        }
        d.nodes.delete(row.id);
        d.publishRemoved(name);
        return { removed: name, steps };
      }, (r) => r.steps.join('; ')),

    'nodes.setLabels': async ({ name, labels }, ctx) =>
      d.audit.around(ctx, 'node.setLabels', name, async () => {
        const row = d.nodes.require(name);
        const conn = await d.fleet.link(row.id).connection();
        const res = await conn.execute({ actor: `${ctx.actor} (${ctx.source})`, setLabels: { labels } });
        const updated = d.nodes.update(row.id, { labels: res.labels ?? labels });
        const node = summary(updated);
        d.publishChanged(node);
        return node;
      }, () => JSON.stringify(labels)),
  };
}
