// `podploy logs` and `podploy ps`: an app's container logs (following until Ctrl-C, which ends
// the stream on the node too and exits 0) and the containers PodPloy runs.
import type { Command } from 'commander';
import { ApiError, type ContainerSummary, type LogChunk, type LogLine } from '../api/contract';
import type { Connection } from './api-connection';

export interface CliHelpers {
  // Connects, runs fn, prints a thrown error as error:/hint: and exits 1.
  withApi(fn: (c: Connection) => Promise<void>): Promise<void>;
}

// After Ctrl-C, how long to wait for the control plane to confirm the end before leaving anyway.
export const CANCEL_GRACE_MS = 3_000;

export function registerLogsCommands(program: Command, { withApi }: CliHelpers): void {
  program
    .command('logs')
    .description("print an app's container logs (the live release's, or --release N); -f follows until Ctrl-C, across deploys")
    .argument('<app>')
    .option('-f, --follow', 'keep printing new lines until Ctrl-C')
    .option('--since <when>', 'only lines since a duration ago (30s, 10m, 2h, 1d) or an ISO 8601 time')
    .option('--tail <n>', 'only the last N lines of the history (0 with -f: only new lines)')
    .option('--release <n>', "a release's container instead of the live one (while it still exists)")
    .option('-t, --timestamps', 'print the time of each line')
    .option('--json', 'one JSON object per line: {"at","stream","line","release"}')
    .action(async (name: string, o: { follow?: boolean; since?: string; tail?: string; release?: string; timestamps?: boolean; json?: boolean }) => {
      await withApi(async ({ client }) => {
        const tail = o.tail === undefined ? undefined : wholeNumber('--tail', o.tail, 0);
        const release = o.release === undefined ? undefined : wholeNumber('--release', o.release.replace(/^v/, ''), 1);
        const print = (chunk: LogChunk) => {
          if (chunk.lines.length) process.stdout.write(chunk.lines.map((l) => formatLogLine(l, o)).join(''));
          if (chunk.notice) process.stderr.write(`-- ${chunk.notice}\n`);
        };
        const call = client.stream(
          'apps.logs',
          { name, follow: !!o.follow, ...(tail !== undefined ? { tail } : {}), ...(o.since !== undefined ? { since: o.since } : {}), ...(release !== undefined ? { release } : {}) },
          print,
        );
        let interrupted = false;
        const stop = () => {
          if (interrupted) process.exit(0);
          interrupted = true;
          call.cancel();
          setTimeout(() => process.exit(0), CANCEL_GRACE_MS).unref();
        };
        process.on('SIGINT', stop);
        process.on('SIGTERM', stop);
        try {
          await call.result;
        } catch (err) {
          if (!interrupted) throw err;
        } finally {
          process.off('SIGINT', stop);
          process.off('SIGTERM', stop);
        }
      });
    });

  program
    .command('ps')
    .description('list the containers PodPloy runs (of one app, or of every app on the online nodes)')
    .argument('[app]')
    .option('--json', 'print JSON')
    .action(async (name: string | undefined, o: { json?: boolean }) =>
      withApi(async ({ client }) => {
        const rows = await client.call('apps.ps', name ? { name } : {});
        if (o.json) process.stdout.write(JSON.stringify(rows, null, 2) + '\n');
        else process.stdout.write(formatContainers(rows, name));
      }),
    );
}

export function formatLogLine(l: LogLine, o: { json?: boolean; timestamps?: boolean } = {}): string {
  if (o.json) return JSON.stringify(l) + '\n';
  return `${o.timestamps ? `${new Date(l.at).toISOString()} ` : ''}${l.line}\n`;
}

export function formatContainers(rows: ContainerSummary[], app?: string, now = Date.now()): string {
  if (!rows.length) return app ? `No containers for ${app}. Deploy it with: podploy deploy ${app}\n` : 'No PodPloy containers on the online nodes.\n';
  const table = [
    ['APP', 'NODE', 'RELEASE', 'SLOT', 'CONTAINER', 'STATE', 'SERVING', 'STARTED', 'IMAGE DIGEST'],
    ...rows.map((c) => [
      c.app,
      c.node,
      c.release !== undefined ? `v${c.release}` : '-',
      c.slot || '-',
      c.name,
      c.state === 'running' || c.exitCode === undefined ? c.state : `${c.state} (${c.exitCode})`,
      c.serving ? 'yes' : 'no',
      c.startedAt ? since(c.startedAt, now) : '-',
      c.imageDigest ? c.imageDigest.slice(0, 19) : '-',
    ]),
  ];
  const widths = table[0].map((_, i) => Math.max(...table.map((r) => r[i].length)));
  return table.map((r) => r.map((c, i) => c.padEnd(widths[i])).join('  ').trimEnd()).join('\n') + '\n';
}

function since(at: number, now: number): string {
  const s = Math.max(0, Math.round((now - at) / 1000));
  if (s < 60) return `${s}s ago`;
  if (s < 3600) return `${Math.floor(s / 60)}m ago`;
  if (s < 86_400) return `${Math.floor(s / 3600)}h ago`;
  return `${Math.floor(s / 86_400)}d ago`;
}

function wholeNumber(flag: string, value: string, min: number): number {
  const n = Number(value);
  if (!/^\d+$/.test(value) || n < min) throw new ApiError('invalid_input', `${flag} '${value}' is not a whole number${min ? ` >= ${min}` : ''}`, flag === '--tail' ? 'e.g. --tail 100' : 'e.g. --release 3 (see podploy releases APP)');
  return n;
}
