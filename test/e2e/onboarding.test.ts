// Onboarding end to end: a real control plane, the real CLI, real sshd and rootless Podman on
// test hosts (network namespaces made by test/hosts/setup.sh), the real agent bundle.
import { existsSync, readFileSync } from 'node:fs';
import { execFileSync, spawn } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadTestHosts } from '../hosts/hosts';
import { AGENT_DIR_OF, agentProcesses, sshAs, operator, readPid, sh, startHarness, waitFor, type Harness } from '../support/harness';
import { AgentConnection } from '../../src-main/agents/agent-client';
import { SshSession } from '../../src-main/ssh/ssh-session';
import { Vault } from '../../src-main/crypto/vault';
import { FleetCa } from '../../src-main/crypto/fleet-ca';
import { CommandKey } from '../../src-main/crypto/command-key';
import { openDatabase } from '../../src-main/db/database';
import { signCommand } from '../../proto/signing';
import { CommandEnvelope, SignedCommand } from '../../proto/gen/podploy/agent/v1/agent';
import { randomBytes } from 'node:crypto';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { NodeSummary } from '../../src-main/api/contract';
import { parseDetectOutput } from '../../src-main/nodes/onboarding/detect';

const hosts = loadTestHosts();
const h1 = hosts.hosts.find((h) => h.name === 'h1')!;
const h2 = hosts.hosts.find((h) => h.name === 'h2')!;
const user1 = h1.users.deploy;
const user2 = h2.users.deploy;
const bare = h2.users.bare!;
const pass = h1.users.password!;
const addr = (user: string, h: { address: string; port: number }) => `ssh://${user}@${h.address}:${h.port}`;

let hx: Harness;

function resetUser(user: string) {
  sh(`${join(import.meta.dirname, '..', 'hosts', 'reset-user.sh')} ${user}`);
}

async function nodeInfo(name: string): Promise<NodeSummary> {
  return hx.cp.router.invoke('nodes.get', { name }, operator);
}

beforeAll(async () => {
  for (const u of [user1, user2, bare, pass.user]) resetUser(u);
  hx = await startHarness();
});

afterAll(async () => {
  await hx?.close();
  for (const u of [user1, user2, bare, pass.user]) resetUser(u);
});

describe('onboarding a fresh server over SSH', () => {
  it('onboards with the CLI, showing every step, and the node comes online with correct facts', async () => {
    const r = await hx.cli(['node', 'add', addr(user1, h1), '--key', hosts.clientKey, '--name', 'h1', '--yes']);
    expect(r.stderr).toContain('[1/7]');
    expect(r.code, r.stderr).toBe(0);
    for (const step of ['connect', 'detect', 'install', 'podman-socket', 'upload', 'service', 'handshake']) {
      expect(r.stderr).toMatch(new RegExp(`\\[\\d/7\\] ✓ ${step}|\\[\\d/7\\] = ${step}`));
    }
    expect(r.stdout).toContain('h1 is online');

    const list = JSON.parse((await hx.cli(['node', 'list', '--json'])).stdout) as NodeSummary[];
    expect(list.map((n) => [n.name, n.status])).toEqual([['h1', 'online']]);
    const n = list[0];
    expect(n.serviceMode).toBe('supervisor');
    expect(n.facts).toMatchObject({
      user: user1,
      arch: sh('uname -m').trim(),
      kernel: sh('uname -r').trim(),
      podmanVersion: sh("podman --version | awk '{print $NF}'").trim(),
      nodeVersion: process.version,
      rootlessReady: true,
      systemd: false,
      osId: 'debian',
    });
    expect(n.facts!.diskTotalBytes).toBeGreaterThan(0);
    expect(n.hostKeyFingerprint).toMatch(/^SHA256:/);

    // The agent runs as the SSH user, its key is private, and the bundle is the one we built.
    const dir = AGENT_DIR_OF(user1);
    expect(sh(`stat -c '%U %a' ${dir}/tls/agent-key.pem`).trim()).toBe(`${user1} 600`);
    expect(sh(`ps -o user= -p ${readPid(user1, 'agent')}`).trim()).toBe(user1);
    expect(sh(`sha256sum < ${dir}/podploy-agent.cjs | cut -d' ' -f1`).trim()).toBe(
      sh(`sha256sum < out/agent/podploy-agent.cjs | cut -d' ' -f1`).trim(),
    );

    const audit = await hx.cli(['audit', '--json']);
    expect(JSON.parse(audit.stdout)[0]).toMatchObject({ action: 'node.add', target: 'h1', result: 'ok', source: 'cli', actor: 'admin' });
  });

  it('reports live usage every interval and `node info` shows it', async () => {
    const first = (await nodeInfo('h1')).lastSeenAt!;
    await waitFor('a newer report', async () => (await nodeInfo('h1')).lastSeenAt! > first, 10_000);
    const n = await nodeInfo('h1');
    expect(n.usage!.memTotalBytes).toBeGreaterThan(0);
    expect(n.usage!.agentRssBytes).toBeGreaterThan(1_000_000);
    const info = await hx.cli(['node', 'info', 'h1']);
    expect(info.stdout).toMatch(/status\s+online/);
    expect(info.stdout).toMatch(/podman\s+\d+\.\d+/);
  });

  it('is idempotent: onboarding again (here through an SSH agent) changes nothing and says so', async () => {
    const agentSock = join(mkdtempSync(join(tmpdir(), 'pp-sshagent-')), 'agent.sock');
    const agent = spawn('ssh-agent', ['-D', '-a', agentSock], { stdio: 'ignore' });
    try {
      await waitFor('ssh-agent socket', () => existsSync(agentSock), 5_000);
      execFileSync('ssh-add', [hosts.clientKey], { env: { ...process.env, SSH_AUTH_SOCK: agentSock }, stdio: 'ignore' });
      const before = readPid(user1, 'agent');
      const prevSock = process.env.SSH_AUTH_SOCK;
      process.env.SSH_AUTH_SOCK = agentSock; // the control plane runs in this process
      const steps: string[] = [];
      const res = await hx.cp.router
        .invoke('nodes.add', { address: addr(user1, h1), auth: { kind: 'agent' }, install: true }, operator, (p) => {
          if (p.state !== 'running') steps.push(`${p.step}:${p.state}`);
        })
        .finally(() => (process.env.SSH_AUTH_SOCK = prevSock));
      expect(res.changed).toBe(false);
      expect(steps).toEqual(['connect:unchanged', 'detect:done', 'install:unchanged', 'podman-socket:unchanged', 'upload:unchanged', 'service:unchanged', 'handshake:unchanged']);
      expect(readPid(user1, 'agent')).toBe(before);
      expect((await hx.cp.router.invoke('nodes.list', {}, operator)).length).toBe(1);
    } finally {
      agent.kill();
    }
  });

  it('runs a signed state-changing command (labels) that the agent persists', async () => {
    const r = await hx.cli(['node', 'label', 'h1', 'env=test', 'tier=edge', '--json']);
    expect(r.code, r.stderr).toBe(0);
    expect(JSON.parse(r.stdout).labels).toEqual({ env: 'test', tier: 'edge' });
    const stored = JSON.parse(readFileSync(`${AGENT_DIR_OF(user1)}/state/labels.json`, 'utf8'));
    expect(JSON.stringify(stored)).toContain('tier');
  });

  describe('the wire refuses what the fleet did not sign or issue', () => {
    let ssh: SshSession;
    let n: NodeSummary;
    beforeAll(async () => {
      n = await nodeInfo('h1');
      ssh = await SshSession.connect({ user: user1, host: h1.address, port: h1.port }, { kind: 'key', privateKey: readFileSync(hosts.clientKey, 'utf8') }, { verifyHostKey: () => true });
    });
    afterAll(() => ssh?.close());

    // The control plane's own key material, read from its state the way it does at start.
    async function fleetCredentials(dataDir: string) {
      const db = openDatabase(join(dataDir, 'podploy.db'));
      const vault = new Vault(db, Buffer.from(readFileSync(join(dataDir, 'master.key'), 'utf8').trim(), 'base64'));
      const ca = await FleetCa.loadOrCreate(vault);
      const key = CommandKey.loadOrCreate(vault);
      db.$client.close();
      return { caCertPem: ca.caCertPem, client: ca.client, signingKey: key.privateKey };
    }

    it('refuses a client certificate from another CA', async () => {
      const otherDir = mkdtempSync(join(tmpdir(), 'pp-otherca-'));
      const db = openDatabase(join(otherDir, 'x.db'));
      const other = await FleetCa.loadOrCreate(new Vault(db, randomBytes(32)));
      const creds = await fleetCredentials(hx.dataDir);
      // Trusts the real CA (so the agent's server certificate is fine) but presents a client
      // certificate from a foreign CA.
      const conn = await AgentConnection.open(ssh, n.id, agentPort(), { ...creds, client: other.client });
      await expect(conn.handshake(3_000)).rejects.toThrow();
      conn.close();
      db.$client.close();
      const good = await AgentConnection.open(ssh, n.id, agentPort(), creds);
      await expect(good.handshake(5_000)).resolves.toMatchObject({ nodeId: n.id });
      good.close();
    });

    it('refuses unsigned, tampered, replayed, foreign-key and wrong-node commands, and logs each', async () => {
      const creds = await fleetCredentials(hx.dataDir);
      const conn = await AgentConnection.open(ssh, n.id, agentPort(), creds);
      const raw = (signed: SignedCommand) =>
        new Promise<void>((resolve, reject) =>
          (conn as unknown as { client: { execute: Function } }).client.execute(signed, (err: Error | null) => (err ? reject(err) : resolve())),
        );
      const signed = signCommand({ nodeId: n.id, actor: 'test', setLabels: { labels: { a: '1' } } }, creds.signingKey);
      await raw(signed);
      await expect(raw(signed)).rejects.toThrow(/replayed/);
      await expect(raw({ payload: signed.payload, signature: Buffer.alloc(0) })).rejects.toThrow(/unsigned/);
      const env = CommandEnvelope.decode(signed.payload);
      const tampered = Buffer.from(CommandEnvelope.encode({ ...env, nonce: 'x' + env.nonce, setLabels: { labels: { a: 'evil' } } }).finish());
      await expect(raw({ payload: tampered, signature: signed.signature })).rejects.toThrow(/bad_signature|signature/);
      const { generateKeyPairSync } = await import('node:crypto');
      const foreign = generateKeyPairSync('ed25519').privateKey;
      await expect(raw(signCommand({ nodeId: n.id, actor: 'test', setLabels: { labels: {} } }, foreign))).rejects.toThrow(/signature/);
      await expect(raw(signCommand({ nodeId: 'another-node', actor: 'test', setLabels: { labels: {} } }, creds.signingKey))).rejects.toThrow(/wrong_node|node/);
      conn.close();
      const log = readFileSync(`${AGENT_DIR_OF(user1)}/log/agent.log`, 'utf8');
      for (const reason of ['replayed', 'unsigned', 'bad_signature', 'wrong_node']) expect(log).toContain(reason);
      // Labels are still what the signed command set.
      expect((await nodeInfo('h1')).labels).toEqual({ env: 'test', tier: 'edge' });
    });

    function agentPort(): number {
      return JSON.parse(readFileSync(`${AGENT_DIR_OF(user1)}/config.json`, 'utf8')).listenPort;
    }
  });

  it('restarts a killed agent, and the node is back online by itself', async () => {
    const pid = readPid(user1, 'agent');
    expect(pid).toBeGreaterThan(0);
    process.kill(pid, 'SIGKILL');
    const newPid = await waitFor('a new agent pid', () => {
      const p = readPid(user1, 'agent');
      return p && p !== pid && sh(`kill -0 ${p} 2>/dev/null && echo y || true`).trim() === 'y' ? p : 0;
    }, 20_000);
    expect(newPid).not.toBe(pid);
    const t = Date.now();
    await waitFor('a report from the new agent', async () => {
      const n = await nodeInfo('h1');
      return n.status === 'online' && n.lastSeenAt! > t;
    }, 30_000);
  });

  it('shows a node offline when its reports stop, and online again when they resume', async () => {
    const pid = readPid(user1, 'agent');
    process.kill(pid, 'SIGSTOP');
    try {
      await waitFor('offline', async () => (await nodeInfo('h1')).status === 'offline', 15_000);
    } finally {
      process.kill(pid, 'SIGCONT');
    }
    await waitFor('online again', async () => (await nodeInfo('h1')).status === 'online', 45_000);
  });

  it('a restarted control plane reconnects to its nodes from its own state', async () => {
    const { dataDir, token } = hx;
    await hx.close();
    hx = await startHarness({ dataDir, token });
    expect(hx.cp.firstAdminToken).toBeNull();
    const t = Date.now();
    await waitFor('a report after the restart', async () => {
      const n = await nodeInfo('h1');
      return n.status === 'online' && n.lastSeenAt! > t;
    }, 30_000);
    // The agent holds the node's labels; the control plane takes them from its handshake (the
    // raw signed command of the wire test above set them last).
    const onNode = JSON.parse(readFileSync(`${AGENT_DIR_OF(user1)}/state/labels.json`, 'utf8'));
    expect(JSON.stringify(onNode)).toContain('"a"');
    expect((await nodeInfo('h1')).labels).toEqual({ a: '1' });
  });

  it('removes a node: agent stopped, files gone, the user’s containers left alone', async () => {
    sshAs(user1, h1, hosts.clientKey, 'podman run -d --name keepme localhost/busybox:latest sleep 300 >/dev/null');
    const r = await hx.cli(['node', 'remove', 'h1', '--yes']);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toContain("left the user's containers alone");
    expect(existsSync(AGENT_DIR_OF(user1))).toBe(false);
    await waitFor('no agent processes', () => agentProcesses(user1).length === 0, 10_000);
    expect(sshAs(user1, h1, hosts.clientKey, 'podman ps --format {{.Names}}')).toContain('keepme');
    expect(JSON.parse((await hx.cli(['node', 'list', '--json'])).stdout)).toEqual([]);
    sshAs(user1, h1, hosts.clientKey, 'podman rm -f -t 0 keepme >/dev/null');
  });
});

describe('bad input: a clear error, nothing half-done', () => {
  async function expectNothingLeft(user: string) {
    expect(await hx.cp.router.invoke('nodes.list', {}, operator)).toEqual([]);
    expect(existsSync(AGENT_DIR_OF(user))).toBe(false);
    expect(agentProcesses(user)).toEqual([]);
  }

  it('malformed addresses', async () => {
    for (const bad of ['deploy@host', 'ssh://nohost', 'ssh://u@h:99999']) {
      const r = await hx.cli(['node', 'add', bad, '--key', hosts.clientKey, '--yes']);
      expect(r.code).toBe(1);
      expect(r.stderr).toMatch(/error: malformed address/);
      expect(r.stderr).toContain('hint: use ssh://USER@HOST[:PORT]');
    }
  });

  it('an unreachable host', async () => {
    const r = await hx.cli(['node', 'add', `ssh://${user1}@${h1.address}:2222`, '--key', hosts.clientKey, '--yes']);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/error: cannot reach .*ECONNREFUSED/);
    await expectNothingLeft(user1);
  });

  it('a wrong key', async () => {
    const r = await hx.cli(['node', 'add', addr(user1, h1), '--key', hosts.wrongKey, '--yes']);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/SSH authentication to .* failed/);
    await expectNothingLeft(user1);
  });

  it('a missing key file and a public key given as the key', async () => {
    let r = await hx.cli(['node', 'add', addr(user1, h1), '--key', '/nonexistent/id', '--yes']);
    expect(r.stderr).toContain('key file /nonexistent/id does not exist');
    r = await hx.cli(['node', 'add', addr(user1, h1), '--key', `${hosts.clientKey}.pub`, '--yes']);
    expect(r.stderr).toContain('is not a private key file');
  });

  it('a wrong password, and then the right one onboards', async () => {
    let r = await hx.cli(['node', 'add', addr(pass.user, h1), '--password-stdin', '--yes'], { input: 'not-the-password\n' });
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/SSH authentication to .* failed/);
    await expectNothingLeft(pass.user);
    r = await hx.cli(['node', 'add', addr(pass.user, h1), '--password-stdin', '--yes', '--name', 'pw'], { input: `${pass.password}\n` });
    expect(r.code, r.stderr).toBe(0);
    expect((await nodeInfo('pw')).status).toBe('online');
    // The password is sealed in the database, never in plain text.
    expect(readFileSync(join(hx.dataDir, 'podploy.db')).includes(Buffer.from(pass.password))).toBe(false);
    // Removal with --containers takes the user's containers too.
    await sshPass('podman run -d --name doomed localhost/busybox:latest sleep 300 >/dev/null');
    r = await hx.cli(['node', 'remove', 'pw', '--yes', '--containers']);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toContain("removed the user's containers");
    expect(await sshPass('podman ps -a --format {{.Names}}')).not.toContain('doomed');
    await expectNothingLeft(pass.user);
  });

  it('missing Podman without consent: stops, lists what is missing and the command, changes nothing', async () => {
    const r = await hx.cli(['node', 'add', addr(bare, h2), '--key', hosts.clientKey, '--fingerprint', fingerprintOf(h2)]);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('Podman is not installed');
    expect(r.stderr).toContain('Nothing was changed on the server');
    expect(r.stderr).toContain('sudo -n apt-get install -y -q podman uidmap slirp4netns fuse-overlayfs');
    await expectNothingLeft(bare);
  });

  it('missing Podman with consent: the install commands run through sudo, and a Podman still not found stops onboarding cleanly', async () => {
    // apt-get finds Podman installed (the test hosts share this machine's packages) while this
    // user's PATH hides it: the commands run for real, and the re-check catches what is missing.
    const r = await hx.cli(['node', 'add', addr(bare, h2), '--key', hosts.clientKey, '--yes']);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/\[3\/7\] … install/);
    expect(r.stderr).toContain('still missing after installing: Podman is not installed');
    await expectNothingLeft(bare);
  });

  it('an unconfirmed new host key is not trusted', async () => {
    const r = await hx.cli(['node', 'add', addr(user2, h2), '--key', hosts.clientKey, '--fingerprint', 'SHA256:AAAAthisisnotit']);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/host key of .* is SHA256:.*not the confirmed SHA256:AAAAthisisnotit/);
    await expectNothingLeft(user2);
  });

  it('a host that is not Linux (the detect step answers Darwin)', async () => {
    const other = await startHarness({ parseDetect: (out) => parseDetectOutput(out.replace(/^os_name=.*$/m, 'os_name=Darwin')) });
    try {
      const r = await other.cli(['node', 'add', addr(user2, h2), '--key', hosts.clientKey, '--yes']);
      expect(r.code).toBe(1);
      expect(r.stderr).toContain('the server runs Darwin, not Linux');
      expect(await other.cp.router.invoke('nodes.list', {}, operator)).toEqual([]);
      expect(existsSync(AGENT_DIR_OF(user2))).toBe(false);
    } finally {
      await other.close();
    }
  });

  it('a changed host key is refused with a clear error', async () => {
    let r = await hx.cli(['node', 'add', addr(user2, h2), '--key', hosts.clientKey, '--yes', '--name', 'h2']);
    expect(r.code, r.stderr).toBe(0);
    r = await hx.cli(['node', 'remove', 'h2', '--yes']);
    expect(r.code, r.stderr).toBe(0);
    sh(`${join(import.meta.dirname, '..', 'hosts', 'restart-sshd.sh')} h2`);
    r = await hx.cli(['node', 'add', addr(user2, h2), '--key', hosts.clientKey, '--yes', '--name', 'h2']);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/the host key of .* changed: pinned SHA256:.*, the server now offers SHA256:/);
    expect(r.stderr).toContain('man-in-the-middle');
    await expectNothingLeft(user2);
  });
});


// The password user over SSH with its password, as an operator would.
async function sshPass(cmd: string): Promise<string> {
  const s = await SshSession.connect({ user: pass.user, host: h1.address, port: h1.port }, { kind: 'password', password: pass.password }, { verifyHostKey: () => true });
  try {
    return await s.run(cmd, cmd);
  } finally {
    s.close();
  }
}

function fingerprintOf(h: { address: string; port: number }): string {
  const out = sh(`ssh-keyscan -t ed25519 -p ${h.port} ${h.address} 2>/dev/null | ssh-keygen -lf - | awk '{print $2}'`).trim();
  return out.split('\n')[0];
}
