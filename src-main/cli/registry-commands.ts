// `podploy registry login|list|logout`: private registry credentials, docker-login style. The
// password comes only from standard input (never an argument, so it stays out of shell history
// and process lists) and is never shown again.
import type { Command } from 'commander';
import { ApiError, type RegistrySummary } from '../api/contract';
import type { CliHelpers } from './app-update-command';
import { ago } from './format';

export function formatRegistries(rows: RegistrySummary[], now = Date.now()): string {
  if (!rows.length) return 'No registry credentials. Add some with: podploy registry login SERVER --username USER --password-stdin\n';
  const table = [['SERVER', 'USERNAME', 'TLS', 'LOGGED IN', 'BY'], ...rows.map((r) => [r.server, r.username, r.insecure ? 'not verified' : 'verified', ago(r.loggedInAt, now), r.loggedInBy])];
  const widths = table[0].map((_, i) => Math.max(...table.map((r) => r[i].length)));
  return table.map((r) => r.map((c, i) => c.padEnd(widths[i])).join('  ').trimEnd()).join('\n') + '\n';
}

// The password on standard input, less the one newline `echo` or a file adds at the end.
export function passwordFromStdin(text: string): string {
  const password = text.replace(/\r?\n$/, '');
  if (!password) throw new ApiError('invalid_input', 'no password on standard input', 'pipe it in: printf %s "$REGISTRY_PASSWORD" | podploy registry login SERVER --username USER --password-stdin');
  if (/[\r\n]/.test(password)) throw new ApiError('invalid_input', 'the password on standard input has more than one line', 'pipe the password alone');
  return password;
}

async function readStdin(): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const c of process.stdin) chunks.push(c as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}

export function registerRegistryCommands(program: Command, h: CliHelpers): void {
  const registry = program.command('registry').description('credentials for private container registries, kept encrypted and write-only');

  registry
    .command('login')
    .description('store credentials for a registry; deploys of its images send them, sealed, to the node that pulls')
    .argument('<server>', 'registry host[:port], e.g. registry.example.com or 127.0.0.1:5000')
    .requiredOption('-u, --username <user>', 'user name')
    .option('--password-stdin', 'read the password from standard input (the only way to give it)')
    .option('--insecure', 'pull over plain HTTP or without verifying the certificate (test registries only)')
    .option('--json', 'print JSON')
    .action(async (server: string, o: { username: string; passwordStdin?: boolean; insecure?: boolean; json?: boolean }) =>
      h.withApi(async ({ client }) => {
        if (!o.passwordStdin) throw new ApiError('invalid_input', 'the password is read from standard input only', `pass --password-stdin: printf %s "$PASSWORD" | podploy registry login ${server} --username ${o.username} --password-stdin`);
        const password = passwordFromStdin(await readStdin());
        const r = await client.call('registries.login', { server, username: o.username, password, insecure: !!o.insecure });
        if (o.json) h.print(r);
        else {
          const tls = r.insecure ? ' (TLS not verified)' : '';
          process.stdout.write(`${r.replaced ? 'replaced the credentials for' : 'logged in to'} ${r.server} as ${r.username}${tls}; they are checked on the first pull\n`);
        }
      }),
    );

  registry
    .command('list')
    .description('list registries with credentials (server, user, when; never the password)')
    .option('--json', 'print JSON')
    .action(async (o: { json?: boolean }) =>
      h.withApi(async ({ client }) => {
        const rows = await client.call('registries.list', {});
        if (o.json) h.print(rows);
        else process.stdout.write(formatRegistries(rows));
      }),
    );

  registry
    .command('logout')
    .description("forget a registry's credentials")
    .argument('<server>')
    .option('--json', 'print JSON')
    .action(async (server: string, o: { json?: boolean }) =>
      h.withApi(async ({ client }) => {
        const r = await client.call('registries.logout', { server });
        if (o.json) h.print(r);
        else process.stdout.write(`removed the credentials for ${r.server}\n`);
      }),
    );
}
