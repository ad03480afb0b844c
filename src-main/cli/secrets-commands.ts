// `podploy secrets set|list|unset`: write-only secrets from the command line and CI pipelines.
// Values come from KEY=VALUE arguments or, so they stay out of shell history and process lists,
// from standard input (`KEY --stdin`: one value; `--stdin` alone: KEY=VALUE lines).
import type { Command } from 'commander';
import { ApiError, type SecretsSummary } from '../api/contract';
import type { CliHelpers } from './app-update-command';
import { ago } from './format';

// The values a `secrets set` asks for. `stdin` is what standard input held (read only when
// --stdin was given). Throws an ApiError naming the bad argument; pure.
export function parseSecretValues(args: string[], stdin: string | undefined): Record<string, string> {
  const values: Record<string, string> = {};
  const bare: string[] = [];
  const put = (name: string, value: string, from: string) => {
    if (!name) throw new ApiError('invalid_input', `${from}: the name before '=' is empty`, 'write NAME=VALUE');
    if (name in values) throw new ApiError('invalid_input', `${name} is given twice`, 'give each secret once');
    values[name] = value;
  };
  for (const a of args) {
    const i = a.indexOf('=');
    if (i < 0) bare.push(a);
    else put(a.slice(0, i), a.slice(i + 1), `'${a.slice(0, i + 1)}…'`);
  }
  if (stdin === undefined) {
    if (bare.length) throw new ApiError('invalid_input', `${bare.join(', ')}: no value given`, `write ${bare[0]}=VALUE, or pipe the value in: ... | podploy secrets set APP ${bare[0]} --stdin`);
  } else if (bare.length > 1) {
    throw new ApiError('invalid_input', `--stdin holds one value, but ${bare.length} names wait for one (${bare.join(', ')})`, 'set one name from standard input at a time, or pipe KEY=VALUE lines with --stdin and no name');
  } else if (bare.length === 1) {
    // One value: the whole input, less the one newline `echo` or a file adds at the end.
    put(bare[0], stdin.replace(/\r?\n$/, ''), bare[0]);
  } else {
    // KEY=VALUE lines, as in an env file: blank lines and # comments are skipped.
    stdin.split(/\r?\n/).forEach((line, n) => {
      if (!line.trim() || line.trimStart().startsWith('#')) return;
      const i = line.indexOf('=');
      if (i < 0) throw new ApiError('invalid_input', `standard input line ${n + 1} is not NAME=VALUE`, 'pipe one NAME=VALUE per line, or name the secret: podploy secrets set APP NAME --stdin');
      put(line.slice(0, i).trim(), line.slice(i + 1), `standard input line ${n + 1}`);
    });
  }
  if (!Object.keys(values).length) throw new ApiError('invalid_input', 'no secret given', 'pass NAME=VALUE pairs, or --stdin');
  return values;
}

export function formatSecrets(s: SecretsSummary, now = Date.now()): string {
  if (!s.secrets.length) return `App ${s.app} has no secrets (version ${s.version}). Set one with: podploy secrets set ${s.app} NAME=VALUE\n`;
  const rows = [['NAME', 'UPDATED', 'BY'], ...s.secrets.map((e) => [e.name, ago(e.updatedAt, now), e.updatedBy])];
  const widths = rows[0].map((_, i) => Math.max(...rows.map((r) => r[i].length)));
  const body = rows.map((r) => r.map((c, i) => c.padEnd(widths[i])).join('  ').trimEnd()).join('\n');
  return `${body}\n(secrets version ${s.version}; values are write-only and never shown)\n`;
}

async function readStdin(): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const c of process.stdin) chunks.push(c as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}

export function registerSecretsCommands(program: Command, h: CliHelpers): void {
  const secrets = program.command('secrets').description("an app's secrets: encrypted at rest, write-only, delivered to the container at start");
  const done = (s: SecretsSummary, json: boolean | undefined, verb: string) => {
    if (json) h.print(s);
    else process.stdout.write(`${verb}; ${s.app} is at secrets version ${s.version}. The next deploy applies it: podploy deploy ${s.app}\n`);
  };

  secrets
    .command('set')
    .description('set secrets (NAME=VALUE...); each change makes a new version that the next deploy uses')
    .argument('<app>')
    .argument('[pairs...]', 'NAME=VALUE, or one NAME whose value comes from --stdin')
    .option('--stdin', 'read the value of the one NAME from standard input, or NAME=VALUE lines when no NAME is given')
    .option('--json', 'print JSON')
    .addHelpText('after', '\nValues given as arguments may stay in your shell history; prefer --stdin for real secrets:\n  printf %s "$TOKEN" | podploy secrets set web API_TOKEN --stdin\n  podploy secrets set web --stdin < secrets.env\n')
    .action(async (app: string, pairs: string[], o: { stdin?: boolean; json?: boolean }) =>
      h.withApi(async ({ client }) => {
        const values = parseSecretValues(pairs, o.stdin ? await readStdin() : undefined);
        const s = await client.call('secrets.set', { app, values });
        done(s, o.json, `set ${Object.keys(values).sort().join(', ')}`);
      }),
    );

  secrets
    .command('list')
    .description('the names of the secrets, when and by whom each was last set (never the values)')
    .argument('<app>')
    .option('--json', 'print JSON')
    .action(async (app: string, o: { json?: boolean }) =>
      h.withApi(async ({ client }) => {
        const s = await client.call('secrets.list', { app });
        if (o.json) h.print(s);
        else process.stdout.write(formatSecrets(s));
      }),
    );

  secrets
    .command('unset')
    .description('remove secrets by name; makes a new version that the next deploy uses')
    .argument('<app>')
    .argument('<names...>')
    .option('--json', 'print JSON')
    .action(async (app: string, names: string[], o: { json?: boolean }) =>
      h.withApi(async ({ client }) => {
        const s = await client.call('secrets.unset', { app, names });
        done(s, o.json, `removed ${names.join(', ')}`);
      }),
    );
}
