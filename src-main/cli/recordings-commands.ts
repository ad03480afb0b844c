// `podploy recordings list|play|export|delete|retention`: recorded terminal sessions, read back
// decrypted and verified by the control plane.
import type { Command } from 'commander';
import { createWriteStream, type WriteStream } from 'node:fs';
import { ApiError, type ApiClient, type RecordingSummary } from '../api/contract';
import { parseSince } from '../apps/logs-service';
import type { CliHelpers } from './logs-commands';

export const DEFAULT_LIST_LIMIT = 50;

export function recordingsQuery(o: { node?: string; app?: string; user?: string; since?: string; limit?: string }, now = Date.now()) {
  const limit = o.limit === undefined ? DEFAULT_LIST_LIMIT : Number(o.limit);
  if (!/^\d+$/.test(o.limit ?? '1') || limit < 1 || limit > 10_000) throw new ApiError('invalid_input', `--limit '${o.limit}' is not a whole number from 1 to 10000`, 'e.g. --limit 200');
  return {
    limit,
    ...(o.node ? { node: o.node } : {}),
    ...(o.app ? { app: o.app } : {}),
    ...(o.user ? { actor: o.user } : {}),
    ...(o.since ? { sinceMs: parseSince(o.since, now) } : {}),
  };
}

function size(n: number): string {
  return n < 1024 ? `${n} B` : n < 1024 * 1024 ? `${(n / 1024).toFixed(1)} KiB` : `${(n / 1024 / 1024).toFixed(1)} MiB`;
}

export function formatRecordings(rows: RecordingSummary[]): string {
  if (!rows.length) return 'No recordings.\n';
  const table = [
    ['ID', 'STARTED', 'USER', 'FROM', 'WHERE', 'DURATION', 'EXIT', 'SIZE', 'STATE'],
    ...rows.map((r) => [
      r.id,
      new Date(r.startedAt).toISOString().replace(/\.\d+Z$/, 'Z'),
      r.actor,
      r.source,
      r.app ? `${r.app}@${r.node}` : `node ${r.node}`,
      r.durationMs === null ? '-' : `${(r.durationMs / 1000).toFixed(1)}s`,
      r.exitCode === null ? '-' : String(r.exitCode),
      size(r.bytes),
      r.state,
    ]),
  ];
  const widths = table[0].map((_, i) => Math.max(...table.map((row) => row[i].length)));
  return table.map((row) => row.map((c, i) => c.padEnd(widths[i])).join('  ').trimEnd()).join('\n') + '\n';
}

// Reads the whole cast through `onText`; says so on stderr when the recording was cut short.
async function readCast(client: ApiClient, id: string, onText: (text: string) => void): Promise<void> {
  const r = await client.call('recordings.read', { id }, (c) => onText(c.text));
  if (r.truncated) process.stderr.write(`note: recording ${id} ends early (${r.recording.endReason ?? 'interrupted'}); everything up to its last sealed chunk is here\n`);
}

// Replays output events with their timing: --speed divides the waits, --idle-limit caps them.
export function playbackDelays(events: [number, string, string][], speed: number, idleLimit: number | undefined): number[] {
  let prev = 0;
  return events.map(([t]) => {
    let wait = Math.max(0, t - prev);
    prev = t;
    if (idleLimit !== undefined) wait = Math.min(wait, idleLimit);
    return (wait / speed) * 1000;
  });
}

export function registerRecordingsCommands(program: Command, { withApi }: CliHelpers): void {
  const rec = program.command('recordings').description('recorded terminal sessions: list, replay, export, delete, retention');

  rec
    .command('list')
    .description('list recordings, newest first')
    .option('--node <name>', 'only sessions on this node')
    .option('--app <name>', 'only sessions into this app')
    .option('--user <name>', 'only sessions of this user')
    .option('--since <when>', 'only sessions started since a duration ago (30m, 2h, 7d) or an ISO 8601 time')
    .option('--limit <n>', `at most this many (default ${DEFAULT_LIST_LIMIT})`)
    .option('--json', 'print JSON')
    .action(async (o: { node?: string; app?: string; user?: string; since?: string; limit?: string; json?: boolean }) =>
      withApi(async ({ client }) => {
        const rows = await client.call('recordings.list', recordingsQuery(o));
        process.stdout.write(o.json ? JSON.stringify(rows, null, 2) + '\n' : formatRecordings(rows));
      }),
    );

  rec
    .command('play')
    .description('replay a recording in this terminal, with its timing')
    .argument('<id>')
    .option('--speed <n>', 'play this many times faster', '1')
    .option('--idle-limit <s>', 'shorten pauses to at most this many seconds')
    .action(async (id: string, o: { speed: string; idleLimit?: string }) =>
      withApi(async ({ client }) => {
        const speed = Number(o.speed);
        if (!(speed > 0)) throw new ApiError('invalid_input', `--speed '${o.speed}' is not a positive number`, 'e.g. --speed 2');
        const idle = o.idleLimit === undefined ? undefined : Number(o.idleLimit);
        if (idle !== undefined && !(idle >= 0)) throw new ApiError('invalid_input', `--idle-limit '${o.idleLimit}' is not a number of seconds`, 'e.g. --idle-limit 2');
        let text = '';
        await readCast(client, id, (t) => (text += t));
        const lines = text.split('\n').filter(Boolean);
        const events = lines.slice(1).map((l) => JSON.parse(l) as [number, string, string]).filter((e) => e[1] === 'o');
        const delays = playbackDelays(events, speed, idle);
        for (let i = 0; i < events.length; i++) {
          if (delays[i] > 0) await new Promise((r) => setTimeout(r, delays[i]));
          process.stdout.write(events[i][2]);
        }
      }),
    );

  rec
    .command('export')
    .description('write the decrypted asciicast v2 file (standard output by default)')
    .argument('<id>')
    .option('-o, --output <file>', 'write to this file (created 0600)')
    .action(async (id: string, o: { output?: string }) =>
      withApi(async ({ client }) => {
        const out: WriteStream | NodeJS.WriteStream = o.output ? createWriteStream(o.output, { mode: 0o600 }) : process.stdout;
        await readCast(client, id, (t) => out.write(t));
        await new Promise<void>((resolve, reject) => (o.output ? (out as WriteStream).end(() => resolve()).once('error', reject) : out.write('', () => resolve())));
        if (o.output) process.stderr.write(`wrote ${o.output}\n`);
      }),
    );

  rec
    .command('delete')
    .description('delete a recording and its file (audited)')
    .argument('<id>')
    .action(async (id: string) =>
      withApi(async ({ client }) => {
        await client.call('recordings.delete', { id });
        process.stdout.write(`deleted ${id}\n`);
      }),
    );

  rec
    .command('retention')
    .description('show the retention in days, or set it (0 keeps recordings forever); setting it deletes what is now expired')
    .argument('[days]')
    .action(async (days: string | undefined) =>
      withApi(async ({ client }) => {
        if (days === undefined) {
          const r = await client.call('recordings.retention', {});
          process.stdout.write(r.days === 0 ? 'recordings are kept forever\n' : `recordings are kept ${r.days} days after their session ended\n`);
          return;
        }
        if (!/^\d+$/.test(days)) throw new ApiError('invalid_input', `'${days}' is not a whole number of days`, 'e.g. podploy recordings retention 90 (0 keeps them forever)');
        const r = await client.call('recordings.setRetention', { days: Number(days) });
        process.stdout.write(`${r.days === 0 ? 'recordings are kept forever' : `recordings are kept ${r.days} days`}; ${r.deleted} expired recording${r.deleted === 1 ? '' : 's'} deleted\n`);
      }),
    );
}
