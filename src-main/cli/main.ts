import { Command, Option } from 'commander';
import { existsSync, readFileSync } from 'node:fs';
import { createInterface } from 'node:readline/promises';
import { ApiError, parseEnvPairs, parseVolumeFlags, RestartPolicy, type AppSpecInput, type DeployProgress, type NodeSummary, type OnboardProgress, type SshAuth } from '../api/contract';
import { connectApi, DEFAULT_URL, type Connection } from './api-connection';
import { defaultDataDir } from './data-dir';
import { formatAppInfo, formatAppList, formatAudit, formatNodeInfo, formatNodeList, formatProgress, formatReleases } from './format';
import { runServe } from './serve';
import { registerAppUpdateCommand } from './app-update-command';
import { registerAppRunningCommands } from './app-running-commands';
import { addLazarusOptions, applyLazarusFlags, type LazarusFlags } from './lazarus-flags';
import { registerSecretsCommands } from './secrets-commands';
import { registerRegistryCommands } from './registry-commands';
import { deployProgressPrinter, wantsColor } from './deploy-output';
import { registerTlsCommands } from './tls-commands';
import { registerLogsCommands } from './logs-commands';
import { registerEventsCommands } from './events-commands';
import { registerTerminalCommands } from './terminal-commands';
import { registerRecordingsCommands } from './recordings-commands';
import { registerBackupCommands } from './backup-commands';

const program = new Command();
program
  .name('podploy')
  .description('PodPloy: a sovereign PaaS on rootless Podman. Onboard your servers over SSH and run apps on them.')
  .version('0.1.0')
  .addOption(new Option('--url <url>', 'control plane URL').env('PODPLOY_URL').default(DEFAULT_URL))
  .addOption(new Option('--token <token>', 'API token').env('PODPLOY_TOKEN'))
  .showHelpAfterError('(run with --help for usage)');

program
  .command('serve')
  .description('run the headless control plane: the UI and the API, with embedded SQLite state')
  .option('--data <dir>', 'state folder (SQLite, keys)', defaultDataDir())
  .option('--listen <host:port>', 'address to listen on', '127.0.0.1:7080')
  .addOption(new Option('--report-interval-ms <ms>', 'how often agents report usage').argParser(Number).hideHelp())
  .action(async (o: { data: string; listen: string; reportIntervalMs?: number }) => {
    await runServe(o);
  });

program
  .command('token')
  .description('manage the admin token of a local control plane')
  .command('reset')
  .description('replace the admin token (when it was lost) and print the new one')
  .option('--data <dir>', 'state folder', defaultDataDir())
  .action(async (o: { data: string }) => {
    const { resetAdminToken } = await import('./serve');
    process.stdout.write(resetAdminToken(o.data) + '\n');
  });

const node = program.command('node').description('onboard, list, inspect and remove servers');

node
  .command('add')
  .description('onboard a server over SSH: install what is missing (with consent), start the agent, see it online')
  .argument('<address>', 'ssh://USER@HOST[:PORT]')
  .option('--key <path>', 'private key file for SSH')
  .option('--password-stdin', 'read the SSH password from standard input')
  .option('--ssh-agent', "use the control plane's SSH agent (SSH_AUTH_SOCK)")
  .option('--name <name>', 'node name (default: derived from the host)')
  .option('--fingerprint <sha256>', 'the host key fingerprint you expect (SHA256:...)')
  .option('-y, --yes', 'trust the host key on first use and install missing packages without asking')
  .option('--json', 'print the result as JSON')
  .action(async (address: string, o: { key?: string; passwordStdin?: boolean; sshAgent?: boolean; name?: string; fingerprint?: string; yes?: boolean; json?: boolean }) => {
    const auth = await readAuth(o);
    await withApi(async ({ client }) => {
      let acceptNewHostKey = !!o.yes;
      let install = !!o.yes;
      if (!o.yes && !o.fingerprint && process.stdin.isTTY) {
        const probe = await client.call('nodes.probe', { address, auth });
        if (probe.known === 'new') {
          process.stderr.write(`The host key of ${probe.host}:${probe.port} is ${probe.keyType} ${probe.fingerprint}\n`);
          acceptNewHostKey = await confirm('Trust it and pin it?');
          if (!acceptNewHostKey) throw new ApiError('host_key_unconfirmed', 'host key not confirmed; nothing was changed');
        }
        install = await confirm('Install missing packages (Podman, Node.js, Caddy, nats-server, git) with sudo if needed?');
      }
      const result = await client.call(
        'nodes.add',
        { address, auth, name: o.name, install, acceptNewHostKey, expectedFingerprint: o.fingerprint },
        (p: OnboardProgress) => process.stderr.write(formatProgress(p) + '\n'),
      );
      if (o.json) print(result);
      else process.stdout.write(`${result.node.name} is ${result.node.status}${result.changed ? '' : ' (already onboarded: nothing changed)'}\n`);
    });
  });

node
  .command('list')
  .description('list nodes with their status and usage')
  .option('--json', 'print JSON')
  .action(async (o: { json?: boolean }) =>
    withApi(async ({ client }) => {
      const nodes = await client.call('nodes.list', {});
      if (o.json) print(nodes);
      else process.stdout.write(formatNodeList(nodes));
    }),
  );

node
  .command('info')
  .description("show a node's facts, usage and agent")
  .argument('<name>')
  .option('--json', 'print JSON')
  .action(async (name: string, o: { json?: boolean }) =>
    withApi(async ({ client }) => {
      const n: NodeSummary = await client.call('nodes.get', { name });
      if (o.json) print(n);
      else process.stdout.write(formatNodeInfo(n));
    }),
  );

node
  .command('label')
  .description("replace a node's labels (a signed command the agent verifies)")
  .argument('<name>')
  .argument('[labels...]', 'KEY=VALUE pairs')
  .option('--json', 'print JSON')
  .action(async (name: string, pairs: string[], o: { json?: boolean }) => {
    const labels: Record<string, string> = {};
    for (const p of pairs) {
      const i = p.indexOf('=');
      if (i < 1) fail(new ApiError('invalid_input', `'${p}' is not KEY=VALUE`));
      labels[p.slice(0, i)] = p.slice(i + 1);
    }
    await withApi(async ({ client }) => {
      const n = await client.call('nodes.setLabels', { name, labels });
      if (o.json) print(n);
      else process.stdout.write(`${n.name}: ${Object.entries(n.labels).map(([k, v]) => `${k}=${v}`).join(' ') || '(no labels)'}\n`);
    });
  });

node
  .command('remove')
  .description("stop the agent and remove its files from the server (the user's containers stay unless --containers)")
  .argument('<name>')
  .option('--containers', "also remove every container of the node's user")
  .option('-y, --yes', 'do not ask for confirmation')
  .option('--json', 'print JSON')
  .action(async (name: string, o: { containers?: boolean; yes?: boolean; json?: boolean }) => {
    if (!o.yes) {
      if (!process.stdin.isTTY) fail(new ApiError('invalid_input', `removing '${name}' needs confirmation`, 'pass --yes'));
      if (!(await confirm(`Remove node '${name}'${o.containers ? ' and all its containers' : ''}?`))) fail(new ApiError('invalid_input', 'cancelled; nothing was changed'));
    }
    await withApi(async ({ client }) => {
      const r = await client.call('nodes.remove', { name, removeContainers: !!o.containers });
      if (o.json) print(r);
      else process.stdout.write(`removed ${r.removed}:\n${r.steps.map((s) => `  - ${s}`).join('\n')}\n`);
    });
  });

const collect = (v: string, prev: string[]) => [...prev, v];
const app = program.command('app').description('declare apps: what runs, where, and how its health is checked');

addLazarusOptions(
  app
    .command('create')
    .description('declare an app on a node (deploy it with `podploy deploy`)')
    .argument('<name>')
    .requiredOption('--node <node>', 'the node it runs on')
    .option('--image <ref>', 'image reference, e.g. docker.io/library/nginx:1.27')
    .option('--git <url>', 'git repository with a Containerfile/Dockerfile, built on the node')
    .option('--ref <ref>', 'git ref to build', 'main')
    .option('--containerfile <path>', 'Containerfile/Dockerfile path in the repository (default: Containerfile, else Dockerfile)')
    .option('--port <port>', 'the port the container listens on', (v) => Number(v))
    .option('--domain <domain>', 'a domain routed to the app (repeatable)', collect, [])
    .option('--health <path>', 'HTTP health check path')
    .option('--env <KEY=VALUE>', 'environment variable (repeatable)', collect, [])
    .option('--volume <NAME:/PATH>', 'a named volume mounted at PATH; it outlives releases (repeatable)', collect, []),
)
  .option('--json', 'print JSON')
  .action(async (name: string, o: LazarusFlags & { node: string; image?: string; git?: string; ref: string; containerfile?: string; port?: number; domain: string[]; health?: string; env: string[]; volume: string[]; json?: boolean }) => {
    if (!!o.image === !!o.git) fail(new ApiError('invalid_input', 'give exactly one source: --image REF or --git URL'));
    let lazarus: ReturnType<typeof applyLazarusFlags> = { restart: RestartPolicy.parse({}) };
    try {
      lazarus = applyLazarusFlags(lazarus, o);
    } catch (err) {
      fail(err);
    }
    let env: Record<string, string> = {};
    try {
      env = parseEnvPairs(o.env);
    } catch (err) {
      fail(new ApiError('invalid_input', `--env ${(err as Error).message}`));
    }
    let volumes: { name: string; path: string }[] = [];
    try {
      volumes = parseVolumeFlags(o.volume);
    } catch (err) {
      fail(new ApiError('invalid_input', `--volume ${(err as Error).message}`));
    }
    const spec: AppSpecInput = {
      name,
      node: o.node,
      source: o.image ? { kind: 'image', image: o.image } : { kind: 'git', url: o.git!, ref: o.ref, ...(o.containerfile ? { containerfile: o.containerfile } : {}) },
      env,
      domains: o.domain,
      volumes,
      ...(o.port !== undefined ? { port: o.port } : {}),
      ...(o.health ? { health: { path: o.health } } : {}),
      restart: lazarus.restart,
      ...(lazarus.liveness ? { liveness: lazarus.liveness } : {}),
    };
    await withApi(async ({ client }) => {
      const a = await client.call('apps.create', { spec });
      if (o.json) print(a);
      else process.stdout.write(`created app ${a.name} on ${a.node}; deploy it with: podploy deploy ${a.name}\n`);
    });
  });

app
  .command('list')
  .description('list apps with their node and live release')
  .option('--json', 'print JSON')
  .action(async (o: { json?: boolean }) =>
    withApi(async ({ client }) => {
      const rows = await client.call('apps.list', {});
      if (o.json) print(rows);
      else process.stdout.write(formatAppList(rows));
    }),
  );

app
  .command('info')
  .description("show an app's configuration with every default")
  .argument('<name>')
  .option('--json', 'print JSON')
  .action(async (name: string, o: { json?: boolean }) =>
    withApi(async ({ client }) => {
      const a = await client.call('apps.get', { name });
      if (o.json) print(a);
      else process.stdout.write(formatAppInfo(a));
    }),
  );

app
  .command('delete')
  .description("delete an app: stop and remove its containers, route and images on its node (the node must be online), then its releases and secrets")
  .argument('<name>')
  .option('--volumes', "also remove the named volumes the app's containers mounted (their data is lost)")
  .option('-y, --yes', 'do not ask for confirmation')
  .option('--json', 'print JSON')
  .action(async (name: string, o: { volumes?: boolean; yes?: boolean; json?: boolean }) => {
    if (!o.yes) {
      if (!process.stdin.isTTY) fail(new ApiError('invalid_input', `deleting '${name}' needs confirmation`, 'pass --yes'));
      if (!(await confirm(`Delete app '${name}'${o.volumes ? ' and its volumes' : ''}?`))) fail(new ApiError('invalid_input', 'cancelled; nothing was changed'));
    }
    await withApi(async ({ client }) => {
      const r = await client.call('apps.delete', { name, removeVolumes: o.volumes ?? false });
      if (o.json) print(r);
      else process.stdout.write(`deleted app ${r.deleted}${r.removedFromNode ? `\nnode ${r.node}: ${r.removedFromNode}` : ''}\n`);
    });
  });

registerAppUpdateCommand(app, { withApi, print });
registerAppRunningCommands(app, { withApi, print });
registerSecretsCommands(program, { withApi, print });
registerRegistryCommands(program, { withApi, print });
registerTlsCommands(program, { withApi, print });
registerLogsCommands(program, { withApi });
registerEventsCommands(program, { withApi });
registerTerminalCommands(program, { withApi });
registerRecordingsCommands(program, { withApi });
registerBackupCommands(program, { withApi, print });

program
  .command('deploy')
  .description('deploy an app with zero downtime; blocks until the release is live or failed')
  .argument('<app>')
  .option('--image <ref>', 'deploy this image (and keep it as the app\'s image)')
  .option('--json', 'print the release as JSON')
  .action(async (name: string, o: { image?: string; json?: boolean }) =>
    withApi(async ({ client }) => {
      const progress = deployProgressPrinter((t) => process.stderr.write(t), { color: wantsColor(process.stderr) });
      const r = await client.call('apps.deploy', { name, ...(o.image ? { image: o.image } : {}) }, (p: DeployProgress) => progress(p));
      if (o.json) print(r);
      else process.stdout.write(`${name} v${r.number} is live (${r.imageRef})\n`);
    }),
  );

program
  .command('rollback')
  .description('deploy an earlier release (image and configuration) through the same zero-downtime path')
  .argument('<app>')
  .option('--to <release>', 'release number (default: the one before the live one)', (v) => Number(v))
  .option('--json', 'print the release as JSON')
  .action(async (name: string, o: { to?: number; json?: boolean }) =>
    withApi(async ({ client }) => {
      const progress = deployProgressPrinter((t) => process.stderr.write(t), { color: wantsColor(process.stderr) });
      const r = await client.call('apps.rollback', { name, ...(o.to ? { to: o.to } : {}) }, (p: DeployProgress) => progress(p));
      if (o.json) print(r);
      else process.stdout.write(`${name} v${r.number} is live (${r.createdBy})\n`);
    }),
  );

program
  .command('releases')
  .description("list an app's releases, newest first")
  .argument('<app>')
  .option('--json', 'print JSON')
  .action(async (name: string, o: { json?: boolean }) =>
    withApi(async ({ client }) => {
      const rows = await client.call('apps.releases', { name });
      if (o.json) print(rows);
      else process.stdout.write(formatReleases(rows));
    }),
  );

program
  .command('audit')
  .description('list state-changing actions: who, when, what, result')
  .option('--limit <n>', 'how many entries', (v) => Number(v), 50)
  .option('--json', 'print JSON')
  .action(async (o: { limit: number; json?: boolean }) =>
    withApi(async ({ client }) => {
      const rows = await client.call('audit.list', { limit: o.limit });
      if (o.json) print(rows);
      else process.stdout.write(formatAudit(rows));
    }),
  );

async function withApi(fn: (c: Connection) => Promise<void>): Promise<void> {
  const { url, token } = program.opts<{ url: string; token?: string }>();
  let conn: Connection | null = null;
  try {
    conn = await connectApi(url, token ?? '');
    await fn(conn);
  } catch (err) {
    fail(err);
  } finally {
    conn?.close();
  }
}

async function readAuth(o: { key?: string; passwordStdin?: boolean; sshAgent?: boolean }): Promise<SshAuth> {
  const chosen = [o.key, o.passwordStdin, o.sshAgent].filter(Boolean).length;
  if (chosen > 1) fail(new ApiError('invalid_input', 'choose one of --key, --password-stdin and --ssh-agent'));
  if (o.key) {
    if (!existsSync(o.key)) fail(new ApiError('invalid_input', `key file ${o.key} does not exist`, 'pass the path of your private key, e.g. --key ~/.ssh/id_ed25519'));
    const privateKey = readFileSync(o.key, 'utf8');
    if (!/PRIVATE KEY/.test(privateKey)) fail(new ApiError('invalid_input', `${o.key} is not a private key file`, 'pass the private half, not the .pub file'));
    return { kind: 'key', privateKey, ...(process.env.PODPLOY_SSH_PASSPHRASE ? { passphrase: process.env.PODPLOY_SSH_PASSPHRASE } : {}) };
  }
  if (o.passwordStdin) {
    const chunks: Buffer[] = [];
    for await (const c of process.stdin) chunks.push(c as Buffer);
    const password = Buffer.concat(chunks).toString('utf8').replace(/\r?\n$/, '');
    if (!password) fail(new ApiError('invalid_input', 'no password on standard input'));
    return { kind: 'password', password };
  }
  if (o.sshAgent) return { kind: 'agent' };
  fail(new ApiError('invalid_input', 'no SSH credentials given', 'pass --key PATH, --password-stdin or --ssh-agent'));
}

async function confirm(question: string): Promise<boolean> {
  const rl = createInterface({ input: process.stdin, output: process.stderr });
  const answer = await rl.question(`${question} [y/N] `);
  rl.close();
  return /^y(es)?$/i.test(answer.trim());
}

function print(value: unknown): void {
  process.stdout.write(JSON.stringify(value, null, 2) + '\n');
}

function fail(err: unknown): never {
  const e = err instanceof ApiError ? err : new ApiError('internal', err instanceof Error ? err.message : String(err));
  process.stderr.write(`error: ${e.message}\n${e.hint ? `hint: ${e.hint}\n` : ''}`);
  process.exit(1);
}

program.parseAsync(process.argv).catch(fail);
