// `podploy app stop NAME` and `podploy app start NAME`: an app stopped on purpose stays stopped
// (Lazarus does not restart it, also across agent restarts) until it is started again.
import type { Command } from 'commander';
import type { AppSummary } from '../api/contract';
import type { CliHelpers } from './app-update-command';

export function registerAppRunningCommands(app: Command, h: CliHelpers): void {
  app
    .command('stop')
    .description("stop an app's live container on purpose; Lazarus leaves it stopped until `podploy app start`")
    .argument('<name>')
    .option('--json', 'print JSON')
    .action(async (name: string, o: { json?: boolean }) =>
      h.withApi(async ({ client }) => {
        const a: AppSummary = await client.call('apps.stop', { name });
        if (o.json) h.print(a);
        else process.stdout.write(`stopped app ${a.name} on ${a.node}; it stays stopped until: podploy app start ${a.name}\n`);
      }),
    );
  app
    .command('start')
    .description('start an app stopped with `podploy app stop`; Lazarus keeps it running again')
    .argument('<name>')
    .option('--json', 'print JSON')
    .action(async (name: string, o: { json?: boolean }) =>
      h.withApi(async ({ client }) => {
        const a: AppSummary = await client.call('apps.start', { name });
        if (o.json) h.print(a);
        else process.stdout.write(`started app ${a.name} on ${a.node}; Lazarus keeps it running\n`);
      }),
    );
}
