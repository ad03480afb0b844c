// `podploy backup destination|policy|run|runs|restore` (through the control plane's API) and
// `podploy state restore` (offline: a control plane's state from its own backup into a data folder).
import type { Command } from 'commander';
import { readFileSync } from 'node:fs';
import { scheduleProblems } from '../../proto/backup-schedule';
import {
  ApiError,
  type BackupPolicyInput,
  type BackupPolicySummary,
  type BackupProgressEvent,
  type BackupRunSummary,
  type DestinationInput,
  type DestinationSummary,
  type InputOf,
} from '../api/contract';
import type { Connection } from './api-connection';
import { bytes } from './format';

export interface BackupCliHelpers {
  withApi(fn: (c: Connection) => Promise<void>): Promise<void>;
  print(value: unknown): void;
}

// A command line that cannot be right (exit 2, nothing sent).
export class UsageError extends Error {
  constructor(
    message: string,
    readonly hint?: string,
  ) {
    super(message);
    this.name = 'UsageError';
  }
}

export const USAGE_EXIT_CODE = 2;

export interface DestinationFlags {
  path?: string;
  endpoint?: string;
  region?: string;
  bucket?: string;
  prefix?: string;
  forcePathStyle?: boolean;
  accessKeyId?: string;
  secretAccessKey?: string;
  host?: string;
  port?: string;
  user?: string;
  folder?: string;
  fingerprint?: string;
  privateKeyFile?: string;
  passphrase?: string;
  password?: string;
  secretStdin?: boolean;
}

// The destination input from the flags. `stdin` (with --secret-stdin) holds the secret: the S3
// secret access key, or for SFTP a private key (PEM/OpenSSH text) or else the password.
export function destinationInputFromFlags(kind: string, name: string, o: DestinationFlags, stdin?: string): DestinationInput {
  const secret = stdin?.replace(/\r?\n$/, '');
  const need = (v: string | undefined, flag: string): string => {
    if (!v) throw new UsageError(`a ${kind} destination needs ${flag}`);
    return v;
  };
  switch (kind) {
    case 'local':
      return { kind, name, path: need(o.path, '--path DIR (absolute, on the node or a mounted disk)') };
    case 's3': {
      const secretAccessKey = secret ?? o.secretAccessKey;
      if (secret !== undefined && o.secretAccessKey) throw new UsageError('give the secret access key once: --secret-stdin or --secret-access-key');
      return {
        kind,
        name,
        bucket: need(o.bucket, '--bucket NAME'),
        accessKeyId: need(o.accessKeyId, '--access-key-id ID'),
        secretAccessKey: need(secretAccessKey, '--secret-stdin (the secret access key on standard input) or --secret-access-key'),
        ...(o.endpoint ? { endpoint: o.endpoint } : {}),
        ...(o.region ? { region: o.region } : {}),
        ...(o.prefix !== undefined ? { prefix: o.prefix } : {}),
        ...(o.forcePathStyle ? { forcePathStyle: true } : {}),
      };
    }
    case 'sftp': {
      let privateKey = o.privateKeyFile ? readFileSync(o.privateKeyFile, 'utf8') : undefined;
      let password = o.password;
      if (secret !== undefined) {
        if (/PRIVATE KEY/.test(secret)) privateKey = secret;
        else password = secret;
      }
      if (!privateKey && !password) throw new UsageError('an sftp destination needs a private key (--private-key-file FILE, or the key on standard input with --secret-stdin) or a password (--secret-stdin)');
      const port = o.port === undefined ? undefined : Number(o.port);
      if (port !== undefined && !(Number.isInteger(port) && port > 0 && port < 65536)) throw new UsageError(`--port '${o.port}' is not a TCP port`);
      return {
        kind,
        name,
        host: need(o.host, '--host HOST'),
        user: need(o.user, '--user USER'),
        folder: need(o.folder, '--folder DIR'),
        hostKeyFingerprint: need(o.fingerprint, '--fingerprint SHA256:... (ssh-keygen -lf on the host key)'),
        ...(port !== undefined ? { port } : {}),
        ...(privateKey ? { privateKey } : {}),
        ...(o.passphrase ? { passphrase: o.passphrase } : {}),
        ...(password ? { password } : {}),
      };
    }
    default:
      throw new UsageError(`unknown destination kind '${kind}'`, 'use local, s3 or sftp');
  }
}

export interface PolicyFlags {
  app?: string;
  volume?: string;
  pause?: boolean;
  postgres?: string;
  mysql?: string;
  dbUser?: string;
  passwordSecret?: string;
  sqlite?: string;
  controlPlane?: boolean;
  schedule?: string[];
  timezone?: string;
  to?: string[];
  keepLast?: string;
  keepDaily?: string;
  keepWeekly?: string;
  keepMonthly?: string;
  retries?: string;
  retryDelay?: string;
  disabled?: boolean;
}

function count(flag: string, v: string | undefined): number | undefined {
  if (v === undefined) return undefined;
  if (!/^\d+$/.test(v)) throw new UsageError(`${flag} '${v}' is not a whole number`);
  return Number(v);
}

// The policy input from the flags; schedules checked here (the same rules as the control plane)
// so a bad cron is refused with croner's exact reason before anything is sent.
export function policyInputFromFlags(name: string, o: PolicyFlags): BackupPolicyInput {
  const sources = [o.volume !== undefined, o.postgres !== undefined, o.mysql !== undefined, o.sqlite !== undefined, !!o.controlPlane].filter(Boolean).length;
  if (sources !== 1) throw new UsageError('give exactly one source: --volume V, --postgres DB, --mysql DB, --sqlite PATH or --control-plane');
  if (o.pause && o.volume === undefined) throw new UsageError('--pause is for --volume sources only');
  if ((o.dbUser || o.passwordSecret) && o.postgres === undefined && o.mysql === undefined) throw new UsageError('--db-user and --password-secret are for --postgres and --mysql sources');
  if (o.controlPlane && o.app) throw new UsageError("--control-plane backs up PodPloy's own state: leave out --app");
  if (!o.controlPlane && !o.app) throw new UsageError('give the app whose data is backed up: --app NAME');
  if (!o.to?.length) throw new UsageError('give at least one destination: --to NAME (see podploy backup destination list)');
  const db = { ...(o.dbUser ? { user: o.dbUser } : {}), ...(o.passwordSecret ? { passwordSecret: o.passwordSecret } : {}) };
  const source: BackupPolicyInput['source'] =
    o.volume !== undefined
      ? { kind: 'volume', volume: o.volume, consistency: o.pause ? 'pause' : 'live' }
      : o.postgres !== undefined
        ? { kind: 'postgres', database: o.postgres, ...db }
        : o.mysql !== undefined
          ? { kind: 'mysql', database: o.mysql, ...db }
          : o.sqlite !== undefined
            ? { kind: 'sqlite', path: o.sqlite }
            : { kind: 'control-plane' };
  if (o.schedule?.length) {
    const problems = scheduleProblems(o.schedule, o.timezone ?? 'UTC');
    if (problems.length) throw new UsageError(problems.join('\n'), 'a schedule is a cron expression such as "0 3 * * *" (daily at 03:00) in --timezone');
  }
  const keep = { last: count('--keep-last', o.keepLast), daily: count('--keep-daily', o.keepDaily), weekly: count('--keep-weekly', o.keepWeekly), monthly: count('--keep-monthly', o.keepMonthly) };
  const retention = Object.fromEntries(Object.entries(keep).filter(([, v]) => v !== undefined));
  const retryAttempts = count('--retries', o.retries);
  const retryDelayMs = count('--retry-delay', o.retryDelay);
  return {
    name,
    ...(o.app ? { app: o.app } : {}),
    source,
    destinations: o.to,
    ...(o.schedule?.length ? { schedules: o.schedule } : {}),
    ...(o.timezone ? { timezone: o.timezone } : {}),
    ...(Object.keys(retention).length ? { retention } : {}),
    ...(retryAttempts !== undefined ? { retryAttempts } : {}),
    ...(retryDelayMs !== undefined ? { retryDelayMs } : {}),
    ...(o.disabled ? { enabled: false } : {}),
  };
}

export interface RestoreFlags {
  from?: string;
  toVolume?: string;
  toDatabase?: string;
  into?: string;
  over?: boolean;
  yes?: boolean;
}

export function restoreInputFromFlags(run: string, o: RestoreFlags): InputOf<'backups.restore'> {
  if (o.toVolume && o.toDatabase) throw new UsageError('give one of --to-volume and --to-database');
  if (o.over && (o.toVolume || o.toDatabase)) throw new UsageError('--over restores over the app\'s own data: leave out --to-volume/--to-database');
  if (o.yes && !o.over) throw new UsageError('--yes confirms --over; a restore into a new volume or database needs no confirmation');
  const target = o.toVolume ?? o.toDatabase;
  return {
    run,
    mode: o.over ? 'over' : 'new',
    ...(target ? { target } : {}),
    ...(o.from ? { destination: o.from } : {}),
    ...(o.into ? { into: o.into } : {}),
    ...(o.over ? { confirm: !!o.yes } : {}),
  };
}

const short = (id: string) => id.replace(/-/g, '').slice(0, 8);
const time = (ms: number | null) => (ms ? new Date(ms).toISOString().replace(/\.\d+Z$/, 'Z') : '-');

function table(rows: string[][]): string {
  const widths = rows[0].map((_, i) => Math.max(...rows.map((r) => r[i].length)));
  return rows.map((r) => r.map((c, i) => c.padEnd(widths[i])).join('  ').trimEnd()).join('\n') + '\n';
}

export function formatDestinations(rows: DestinationSummary[]): string {
  if (!rows.length) return 'No backup destinations. Add one with: podploy backup destination set local NAME --path DIR\n';
  return table([['NAME', 'KIND', 'WHERE', 'SECRETS'], ...rows.map((d) => [d.name, d.kind, d.where, d.secrets.length ? d.secrets.map((s) => `${s} (set)`).join(', ') : '-'])]);
}

function what(p: BackupPolicySummary): string {
  const s = p.source;
  switch (s.kind) {
    case 'volume':
      return `${p.app} volume ${s.volume}${s.consistency === 'pause' ? ' (paused)' : ''}`;
    case 'postgres':
    case 'mysql':
      return `${p.app} ${s.kind} ${s.database}`;
    case 'sqlite':
      return `${p.app} sqlite ${s.path}`;
    default:
      return 'PodPloy state';
  }
}

export function formatPolicies(rows: BackupPolicySummary[]): string {
  if (!rows.length) return 'No backup policies. Add one with: podploy backup policy set NAME --app APP --volume VOL --to DEST\n';
  return table([
    ['NAME', 'WHAT', 'SCHEDULE', 'NEXT', 'TO', 'KEEP', 'PUSHED', 'LAST RUN'],
    ...rows.map((p) => [
      p.name,
      what(p),
      `${p.schedules.join(' | ')} ${p.timezone}${p.enabled ? '' : ' (disabled)'}`,
      p.nextRuns.length ? time(p.nextRuns[0]) : '-',
      p.destinations.join(','),
      `${p.retention.last}/${p.retention.daily}d/${p.retention.weekly}w/${p.retention.monthly}m`,
      p.node ? (p.pushed ? 'yes' : `no: ${p.pushError ?? 'pending'}`) : '-',
      p.lastRun ? `${p.lastRun.status} ${time(p.lastRun.startedAt)}` : '-',
    ]),
  ]);
}

export function formatRuns(rows: BackupRunSummary[]): string {
  if (!rows.length) return 'No backup runs.\n';
  return table([
    ['RUN', 'STARTED', 'POLICY', 'WHERE', 'TRIGGER', 'DURATION', 'SIZE', 'STATUS', 'COPIES'],
    ...rows.map((r) => [
      short(r.id),
      time(r.startedAt),
      r.policy,
      r.app ? `${r.app}@${r.node ?? '-'}` : 'control plane',
      r.attempt > 1 ? `${r.trigger} #${r.attempt}` : r.trigger,
      r.finishedAt ? `${((r.finishedAt - r.startedAt) / 1000).toFixed(1)}s` : '-',
      r.plainBytes ? `${bytes(r.plainBytes)} (${bytes(r.sealedBytes)} sealed)` : '-',
      r.status === 'failed' ? `failed: ${r.error ?? ''}` : r.status,
      r.copies.map((c) => `${c.destination}${c.ok ? '' : ' ✗'}`).join(',') || '-',
    ]),
  ]);
}

export function formatBackupProgress(p: BackupProgressEvent): string {
  const size = p.plainBytes ? ` ${bytes(p.plainBytes)}${p.sealedBytes ? ` (${bytes(p.sealedBytes)} sealed)` : ''}` : '';
  return `${p.phase}${size}${p.message ? `: ${p.message}` : ''}`;
}

async function readStdin(): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const c of process.stdin) chunks.push(c as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}

const collect = (v: string, prev: string[] = []) => [...prev, v];

// Prints progress lines on stderr: every change of phase, and at most four a second within one.
function progressPrinter(): (p: BackupProgressEvent) => void {
  let last = 0;
  let phase = '';
  return (p) => {
    const now = Date.now();
    if (p.phase === phase && now - last < 250) return;
    last = now;
    phase = p.phase;
    process.stderr.write(formatBackupProgress(p) + '\n');
  };
}

function usage(err: unknown): never {
  const e = err as UsageError;
  process.stderr.write(`error: ${e.message}\n${e.hint ? `hint: ${e.hint}\n` : ''}`);
  process.exit(USAGE_EXIT_CODE);
}

// Runs `build`; a UsageError exits 2 before anything is sent.
function checked<T>(build: () => T): T {
  try {
    return build();
  } catch (err) {
    if (err instanceof UsageError) usage(err);
    throw err;
  }
}

export function registerBackupCommands(program: Command, { withApi, print }: BackupCliHelpers): void {
  const backup = program.command('backup').description('encrypted backups of app volumes and databases and of PodPloy itself: destinations, policies, runs, restores');

  const dest = backup.command('destination').description('where backups go: a local folder, S3-compatible storage or SFTP');
  dest
    .command('set')
    .description('add or replace a destination (secrets are sealed and never shown again)')
    .argument('<kind>', 'local, s3 or sftp')
    .argument('<name>')
    .option('--path <dir>', 'local: absolute folder on the node (or a mounted disk)')
    .option('--endpoint <url>', 's3: endpoint (MinIO, R2...); absent: AWS')
    .option('--region <region>', 's3: region')
    .option('--bucket <bucket>', 's3: bucket')
    .option('--prefix <prefix>', 's3: key prefix in the bucket')
    .option('--force-path-style', 's3: path-style URLs (MinIO and most self-hosted servers)')
    .option('--access-key-id <id>', 's3: access key id')
    .option('--secret-access-key <key>', 's3: secret access key (prefer --secret-stdin: it stays out of shell history)')
    .option('--host <host>', 'sftp: server')
    .option('--port <port>', 'sftp: port (22)')
    .option('--user <user>', 'sftp: user')
    .option('--folder <dir>', 'sftp: remote folder')
    .option('--fingerprint <sha256>', "sftp: the server's host key fingerprint, SHA256:...")
    .option('--private-key-file <file>', 'sftp: private key file')
    .option('--passphrase <passphrase>', "sftp: the private key's passphrase")
    .option('--secret-stdin', 'read the secret from standard input (s3: the secret access key; sftp: a private key or the password)')
    .option('--json', 'print JSON')
    .action(async (kind: string, name: string, o: DestinationFlags & { json?: boolean }) => {
      const stdin = o.secretStdin ? await readStdin() : undefined;
      const input = checked(() => destinationInputFromFlags(kind, name, o, stdin));
      await withApi(async ({ client }) => {
        const d = await client.call('backups.destinations.set', input);
        if (o.json) print(d);
        else process.stdout.write(`destination ${d.name}: ${d.where}${d.secrets.length ? ` (secrets sealed: ${d.secrets.join(', ')})` : ''}\n`);
      });
    });
  dest
    .command('list')
    .description('list destinations (secrets by name only)')
    .option('--json', 'print JSON')
    .action(async (o: { json?: boolean }) =>
      withApi(async ({ client }) => {
        const rows = await client.call('backups.destinations.list', {});
        if (o.json) print(rows);
        else process.stdout.write(formatDestinations(rows));
      }),
    );
  dest
    .command('remove')
    .description('remove a destination no policy uses (its backups stay where they are)')
    .argument('<name>')
    .action(async (name: string) =>
      withApi(async ({ client }) => {
        await client.call('backups.destinations.remove', { name });
        process.stdout.write(`removed destination ${name}\n`);
      }),
    );
  dest
    .command('test')
    .description('test connection: reach, authenticate, write, read back and delete a small object (from the node that uses it, or --node)')
    .argument('<name>')
    .option('--node <node>', 'test from this node')
    .option('--json', 'print JSON')
    .action(async (name: string, o: { node?: string; json?: boolean }) =>
      withApi(async ({ client }) => {
        const r = await client.call('backups.destinations.test', { name, ...(o.node ? { node: o.node } : {}) });
        if (o.json) print(r);
        else process.stdout.write(`${r.ok ? 'ok' : 'FAILED'} from ${r.from} in ${r.durationMs} ms: ${r.message}\n`);
        if (!r.ok) process.exitCode = 1;
      }),
    );

  const policy = backup.command('policy').description('what is backed up, when, where and how long');
  policy
    .command('set')
    .description('add or replace a policy; the node gets it signed and runs it by itself')
    .argument('<name>')
    .option('--app <app>', 'the app whose volume or database is backed up')
    .option('--volume <volume>', "one of the app's named volumes")
    .option('--pause', 'pause the app during a volume copy (always resumed)')
    .option('--postgres <db>', 'a PostgreSQL database in the app (pg_dump)')
    .option('--mysql <db>', 'a MySQL/MariaDB database in the app (mysqldump)')
    .option('--db-user <user>', 'the database user')
    .option('--password-secret <name>', "the app secret holding the database password")
    .option('--sqlite <path>', 'a SQLite file inside the app container')
    .option('--control-plane', "PodPloy's own state (nodes, apps, releases, sealed secrets)")
    .option('--schedule <cron>', 'a cron expression (repeatable; default "0 3 * * *")', collect)
    .option('--timezone <tz>', 'IANA time zone of the schedules (default UTC)')
    .option('--to <destination>', 'a destination (repeatable)', collect)
    .option('--keep-last <n>', 'keep the last N runs (default 3)')
    .option('--keep-daily <d>', 'and the newest run of each of the last D days (default 7)')
    .option('--keep-weekly <w>', 'and of each of the last W weeks (default 4)')
    .option('--keep-monthly <m>', 'and of each of the last M months (default 6)')
    .option('--retries <n>', 'further attempts after a failed run (default 2)')
    .option('--retry-delay <ms>', 'between attempts (default 300000)')
    .option('--disabled', 'keep the policy without scheduling it (manual runs still work)')
    .option('--json', 'print JSON')
    .action(async (name: string, o: PolicyFlags & { json?: boolean }) => {
      const input = checked(() => policyInputFromFlags(name, o));
      await withApi(async ({ client }) => {
        const p = await client.call('backups.policies.set', input);
        if (o.json) print(p);
        else {
          process.stdout.write(`policy ${p.name}: ${what(p)} to ${p.destinations.join(', ')}; next runs ${p.nextRuns.map(time).join(', ') || '-'}\n`);
          if (p.node && !p.pushed) process.stderr.write(`warning: not on node ${p.node} yet: ${p.pushError ?? 'pending'}\n`);
        }
      });
    });
  policy
    .command('list')
    .description('list policies with their next runs and last run')
    .option('--app <app>', "only this app's policies")
    .option('--json', 'print JSON')
    .action(async (o: { app?: string; json?: boolean }) =>
      withApi(async ({ client }) => {
        const rows = await client.call('backups.policies.list', o.app ? { app: o.app } : {});
        if (o.json) print(rows);
        else process.stdout.write(formatPolicies(rows));
      }),
    );
  policy
    .command('remove')
    .description('remove a policy (its runs and their backups stay)')
    .argument('<name>')
    .action(async (name: string) =>
      withApi(async ({ client }) => {
        await client.call('backups.policies.remove', { name });
        process.stdout.write(`removed policy ${name}\n`);
      }),
    );

  backup
    .command('run')
    .description('run a policy now, with live progress')
    .argument('<policy>')
    .option('--json', 'print the run as JSON')
    .action(async (name: string, o: { json?: boolean }) =>
      withApi(async ({ client }) => {
        const progress = progressPrinter();
        const r = await client.call('backups.run', { policy: name }, progress);
        if (o.json) print(r);
        else process.stdout.write(`run ${short(r.id)} ${r.status}: ${bytes(r.plainBytes)} (${bytes(r.sealedBytes)} sealed) to ${r.copies.map((c) => c.destination).join(', ') || '-'}${r.error ? `\n${r.error}` : ''}\n`);
        if (r.status === 'failed') {
          if (!o.json) process.stderr.write(`error: backup run ${short(r.id)} failed: ${r.error ?? 'no detail'}\n`);
          process.exitCode = 1;
        }
      }),
    );

  backup
    .command('runs')
    .description('list backup runs, newest first')
    .option('--policy <policy>', "only this policy's runs")
    .option('--app <app>', "only this app's runs")
    .option('--limit <n>', 'at most this many (default 50)', '50')
    .option('--json', 'print JSON')
    .action(async (o: { policy?: string; app?: string; limit: string; json?: boolean }) => {
      const limit = checked(() => count('--limit', o.limit)!);
      await withApi(async ({ client }) => {
        const rows = await client.call('backups.runs', { limit, ...(o.policy ? { policy: o.policy } : {}), ...(o.app ? { app: o.app } : {}) });
        if (o.json) print(rows);
        else process.stdout.write(formatRuns(rows));
      });
    });

  backup
    .command('restore')
    .description('restore a run: into a new volume or database (default) or --over the app\'s own (stopped, restored, redeployed)')
    .argument('<run>', 'run id (or its first 8+ characters)')
    .option('--from <destination>', 'read this copy (default: the first that holds it)')
    .option('--to-volume <name>', 'the new volume (default <volume>-restored-<run>)')
    .option('--to-database <name>', 'the new database (default <db>_restored_<run>)')
    .option('--into <app>', 'restore into another app on its node')
    .option('--over', "restore over the app's own volume or database")
    .option('-y, --yes', 'confirm --over')
    .option('--json', 'print JSON')
    .action(async (run: string, o: RestoreFlags & { json?: boolean }) => {
      const input = checked(() => restoreInputFromFlags(run, o));
      await withApi(async ({ client }) => {
        const progress = progressPrinter();
        const r = await client.call('backups.restore', input, progress);
        if (o.json) print(r);
        else process.stdout.write(`restored run ${short(r.run)} ${r.mode === 'over' ? 'over' : 'into'} ${r.target}: ${bytes(r.plainBytes)}, sha256 ${r.sha256} (${(r.durationMs / 1000).toFixed(1)}s)\n`);
      });
    });

  program
    .command('state')
    .description("PodPloy's own state")
    .command('restore')
    .description('offline: write a control plane state backup into a data folder (start `podploy serve --data DIR` on it afterwards)')
    .requiredOption('--destination <file>', 'JSON of the destination, e.g. {"kind":"local","path":"/srv/backups"}')
    .option('--run <id>', 'the run to restore')
    .option('--latest', 'the newest run on the destination')
    .requiredOption('--data <dir>', 'the data folder to write (master key: PODPLOY_MASTER_KEY, or the old master.key copied into it)')
    .option('--force', 'replace the state already in the folder')
    .option('--json', 'print JSON')
    .action(async (o: { destination: string; run?: string; latest?: boolean; data: string; force?: boolean; json?: boolean }) => {
      if (!o.latest === !o.run) usage(new UsageError('give exactly one of --run ID and --latest'));
      const { restoreStateFromFile } = await import('../backups/state-restore');
      try {
        const r = await restoreStateFromFile({ destinationFile: o.destination, dataDir: o.data, run: o.run, latest: o.latest, force: o.force });
        if (o.json) print(r);
        else process.stdout.write(`restored run ${short(r.run)} of policy ${r.policy} (made ${time(r.madeAt)}, ${bytes(r.plainBytes)}, sha256 ${r.sha256}) into ${r.file}\nstart it with: podploy serve --data ${o.data}\n`);
      } catch (err) {
        const e = err instanceof ApiError ? err : new ApiError('internal', (err as Error).message, (err as { hint?: string }).hint);
        process.stderr.write(`error: ${e.message}\n${e.hint ? `hint: ${e.hint}\n` : ''}`);
        process.exit(1);
      }
    });
}
