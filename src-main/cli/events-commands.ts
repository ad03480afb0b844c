// `podploy events`: what the nodes reported (container deaths, restarts, crash loops, probes,
// deploy steps), oldest first; -f keeps printing new ones until Ctrl-C.
import type { Command } from 'commander';
import { ApiError, type InputOf, type NodeEventSummary } from '../api/contract';
import { parseSince } from '../apps/logs-service';
import type { CliHelpers } from './logs-commands';

export const EVENTS_DEFAULT_LIMIT = 50;
// Ids of printed events remembered while following, so the history and the live feed overlap
// without printing an event twice.
const SEEN_MAX = 10_000;

export interface EventsFlags {
  node?: string;
  app?: string;
  kind?: string[];
  since?: string;
  limit?: string;
  follow?: boolean;
  json?: boolean;
}

export function eventsQuery(o: EventsFlags, now = Date.now()): InputOf<'events.list'> {
  let limit = EVENTS_DEFAULT_LIMIT;
  if (o.limit !== undefined) {
    limit = Number(o.limit);
    if (!/^\d+$/.test(o.limit) || limit < 1 || limit > 10_000) throw new ApiError('invalid_input', `--limit '${o.limit}' is not a whole number from 1 to 10000`, 'e.g. --limit 200');
  }
  return {
    limit,
    ...(o.node !== undefined ? { node: o.node } : {}),
    ...(o.app !== undefined ? { app: o.app } : {}),
    ...(o.kind?.length ? { kinds: o.kind } : {}),
    ...(o.since !== undefined ? { sinceMs: parseSince(o.since, now) } : {}),
  };
}

// Whether a live event passes the same filters the history was read with.
export function matchesQuery(e: NodeEventSummary, q: InputOf<'events.list'>): boolean {
  if (q.node !== undefined && e.node !== q.node) return false;
  if (q.app !== undefined && e.app !== q.app) return false;
  if (q.kinds?.length && !q.kinds.some((k) => e.kind === k || (!k.includes('.') && e.kind.startsWith(`${k}.`)))) return false;
  return true;
}

export function formatEvent(e: NodeEventSummary, json = false): string {
  if (json) return JSON.stringify(e) + '\n';
  const where = [e.node, e.app ?? '-'].join('  ');
  const severity = e.severity === 'info' ? '' : `${e.severity.toUpperCase()} `;
  return `${new Date(e.atMs).toISOString()}  ${where}  ${e.kind}  ${severity}${e.message}\n`;
}

export function registerEventsCommands(program: Command, { withApi }: CliHelpers): void {
  program
    .command('events')
    .description('list what the nodes reported (deaths, restarts, crash loops, probes, deploy steps), oldest first; -f follows')
    .option('--node <name>', "only this node's events")
    .option('--app <name>', "only this app's events")
    .option('--kind <kind>', "only this kind (restart.done) or family (restart); repeat for several", (v: string, prev: string[] = []) => [...prev, v])
    .option('--since <when>', 'only events since a duration ago (30s, 10m, 2h, 1d) or an ISO 8601 time')
    .option('--limit <n>', `at most the newest N events of the history (default ${EVENTS_DEFAULT_LIMIT})`)
    .option('-f, --follow', 'keep printing new events until Ctrl-C')
    .option('--json', 'one JSON object per line')
    .action(async (o: EventsFlags) => {
      await withApi(async ({ client }) => {
        const query = eventsQuery(o);
        const seen = new Set<string>();
        const print = (e: NodeEventSummary) => {
          if (seen.has(e.id)) return;
          seen.add(e.id);
          if (seen.size > SEEN_MAX) seen.delete(seen.values().next().value!);
          process.stdout.write(formatEvent(e, o.json));
        };
        // Subscribed before reading the history, so nothing falls between the two.
        const early: NodeEventSummary[] = [];
        let live: ((e: NodeEventSummary) => void) | null = null;
        const unsubscribe = o.follow
          ? client.subscribe('events.appended', (e) => {
              if (!matchesQuery(e, query)) return;
              if (live) live(e);
              else early.push(e);
            })
          : null;
        const history = await client.call('events.list', query);
        for (const e of history.reverse()) print(e);
        if (!unsubscribe) return;
        for (const e of early) print(e);
        live = print;
        await new Promise<void>((resolve) => {
          const stop = () => {
            unsubscribe();
            resolve();
          };
          process.once('SIGINT', stop);
          process.once('SIGTERM', stop);
        });
      });
    });
}
