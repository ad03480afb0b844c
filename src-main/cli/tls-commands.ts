// `podploy tls show|set`: the ACME server, contact and redirect policy every node's Caddy uses.
import { readFileSync } from 'node:fs';
import type { Command } from 'commander';
import { ApiError, HttpRedirectMode, type TlsPush, type TlsSettings } from '../api/contract';
import type { Connection } from './api-connection';

export interface TlsCliHelpers {
  withApi(fn: (c: Connection) => Promise<void>): Promise<void>;
  print(value: unknown): void;
}

export interface TlsSetFlags {
  acmeDirectory?: string;
  email?: string;
  acmeCaRoot?: string;
  httpRedirect?: string;
  json?: boolean;
}

// The tls.set input from the flags; reads --acme-ca-root ("" clears it). Throws an ApiError
// naming the flag; nothing is sent then.
export function tlsSetInput(f: TlsSetFlags, readFile: (path: string) => string = (p) => readFileSync(p, 'utf8')) {
  if (f.acmeDirectory === undefined && f.email === undefined && f.acmeCaRoot === undefined && f.httpRedirect === undefined) {
    throw new ApiError('invalid_input', 'nothing to set', 'pass --acme-directory, --email, --acme-ca-root or --http-redirect');
  }
  let acmeCaRootPem: string | undefined;
  if (f.acmeCaRoot !== undefined && f.acmeCaRoot !== '') {
    try {
      acmeCaRootPem = readFile(f.acmeCaRoot);
    } catch (err) {
      throw new ApiError('invalid_input', `--acme-ca-root ${f.acmeCaRoot}: ${(err as NodeJS.ErrnoException).code === 'ENOENT' ? 'no such file' : (err as Error).message}`, 'pass the PEM file of the root CA');
    }
  } else if (f.acmeCaRoot === '') acmeCaRootPem = '';
  let httpRedirect: HttpRedirectMode | undefined;
  if (f.httpRedirect !== undefined) {
    const parsed = HttpRedirectMode.safeParse(f.httpRedirect);
    if (!parsed.success) throw new ApiError('invalid_input', `--http-redirect ${f.httpRedirect}: must be one of ${HttpRedirectMode.options.join(', ')}`);
    httpRedirect = parsed.data;
  }
  return {
    ...(f.acmeDirectory !== undefined ? { acmeDirectory: f.acmeDirectory } : {}),
    ...(f.email !== undefined ? { acmeEmail: f.email } : {}),
    ...(acmeCaRootPem !== undefined ? { acmeCaRootPem } : {}),
    ...(httpRedirect ? { httpRedirect } : {}),
  };
}

export function formatTls(s: TlsSettings): string {
  return [
    `acme directory  ${s.acmeDirectory}`,
    `email           ${s.acmeEmail || '(none)'}`,
    `acme ca root    ${s.acmeCaRoot ? `${s.acmeCaRoot.subject} (sha256 ${s.acmeCaRoot.sha256})` : '(system roots)'}`,
    `http redirect   ${s.httpRedirect}${s.httpRedirect === 'public' ? ' (names with an ACME certificate; test names, localhost and IPs also answer on plain HTTP)' : ''}`,
    'certificates    ACME for public names; Caddy\'s internal CA for localhost, IP addresses and .test .example .invalid .localhost .local .internal .home.arpa',
  ].join('\n') + '\n';
}

function formatPushes(nodes: TlsPush[]): string {
  if (!nodes.length) return 'no nodes yet: each node gets these settings when it is onboarded\n';
  return nodes.map((n) => `${n.ok ? '✓' : '✗'} ${n.node}: ${n.message}`).join('\n') + '\n';
}

export function registerTlsCommands(program: Command, h: TlsCliHelpers): void {
  const tls = program.command('tls').description("certificates for apps' domains: the ACME server and the HTTP to HTTPS redirect");
  tls
    .command('show')
    .description('show the TLS settings every node uses')
    .option('--json', 'print JSON')
    .action(async (f: { json?: boolean }) =>
      h.withApi(async ({ client }) => {
        const s = await client.call('tls.get', {});
        if (f.json) h.print(s);
        else process.stdout.write(formatTls(s));
      }),
    );
  tls
    .command('set')
    .description('change the TLS settings and push them to every node')
    .option('--acme-directory <url>', 'the ACME server\'s directory URL (default: Let\'s Encrypt)')
    .option('--email <address>', 'the ACME account\'s contact ("" for none)')
    .option('--acme-ca-root <file>', 'a PEM root the ACME server\'s HTTPS certificate chains to, e.g. a private CA ("" for the system roots)')
    .option('--http-redirect <mode>', 'which names plain HTTP redirects to HTTPS: public, all, off')
    .option('--json', 'print JSON')
    .action(async (f: TlsSetFlags) =>
      h.withApi(async ({ client }) => {
        const input = tlsSetInput(f);
        const r = await client.call('tls.set', input);
        if (f.json) h.print(r);
        else process.stdout.write(`${formatTls(r.settings)}\n${formatPushes(r.nodes)}`);
        if (r.nodes.some((n) => !n.ok)) {
          throw new ApiError('agent_failed', `the settings are stored, but ${r.nodes.filter((n) => !n.ok).map((n) => n.node).join(', ')} did not take them`, 'run podploy tls set again once those nodes are online and no deploy runs on them');
        }
      }),
    );
}
