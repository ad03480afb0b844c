// The control plane's TLS settings for every node's Caddy: stored in the `settings` table, pushed
// to each node as a signed SetIngressSettings command on change and after onboarding.
import { X509Certificate } from 'node:crypto';
import { eq } from 'drizzle-orm';
import { ApiError, type TlsPush, type TlsSettings } from '../api/contract';
import type { Handlers } from '../api/router';
import type { AuditLog } from '../audit';
import type { Fleet } from '../agents/fleet';
import type { Db } from '../db/database';
import { settings } from '../db/schema';
import type { NodeStore } from '../nodes/node-store';
import { DEFAULT_INGRESS_TLS, tlsSettingsProblems, type IngressTlsSettings } from '../../proto/ingress-tls';
import type { SetIngressSettings } from '../../proto/gen/podploy/agent/v1/agent';

export const TLS_SETTINGS_KEY = 'ingress.tls';
// How long `tls set` waits for one node's agent link before listing it as not reached.
export const TLS_PUSH_CONNECT_MS = 5_000;

export function readTlsSettings(db: Db): IngressTlsSettings {
  const row = db.select().from(settings).where(eq(settings.name, TLS_SETTINGS_KEY)).get();
  return row ? { ...DEFAULT_INGRESS_TLS, ...(JSON.parse(row.value) as Partial<IngressTlsSettings>) } : { ...DEFAULT_INGRESS_TLS };
}

function writeTlsSettings(db: Db, s: IngressTlsSettings): void {
  const value = JSON.stringify(s);
  db.insert(settings).values({ name: TLS_SETTINGS_KEY, value }).onConflictDoUpdate({ target: settings.name, set: { value } }).run();
}

export function toWire(s: IngressTlsSettings): SetIngressSettings {
  return { acmeDirectory: s.acmeDirectory, acmeEmail: s.acmeEmail, acmeCaRootPem: s.acmeCaRootPem, httpRedirect: s.httpRedirect };
}

export function tlsView(s: IngressTlsSettings): TlsSettings {
  let acmeCaRoot: TlsSettings['acmeCaRoot'] = null;
  if (s.acmeCaRootPem) {
    const cert = new X509Certificate(s.acmeCaRootPem);
    acmeCaRoot = { sha256: cert.fingerprint256, subject: cert.subject.replace(/\n/g, ', ') };
  }
  return { acmeDirectory: s.acmeDirectory, acmeEmail: s.acmeEmail, acmeCaRoot, httpRedirect: s.httpRedirect };
}

// Only the first certificate of the PEM is used; it must parse and be a CA.
function checkRoot(pem: string): void {
  let cert: X509Certificate;
  try {
    cert = new X509Certificate(pem);
  } catch (err) {
    throw new ApiError('invalid_input', `the ACME CA root is not a readable PEM certificate: ${(err as Error).message}`, 'pass the PEM file of the root that signed the ACME server\'s HTTPS certificate');
  }
  if (!cert.ca) throw new ApiError('invalid_input', `the ACME CA root (${cert.subject.replace(/\n/g, ', ')}) is not a CA certificate`, 'pass the root CA certificate, not the server\'s own');
}

export interface TlsServiceDeps {
  db: Db;
  nodes: NodeStore;
  fleet: Fleet;
  audit: AuditLog;
}

export function tlsHandlers(d: TlsServiceDeps): Pick<Handlers, 'tls.get' | 'tls.set'> {
  return {
    'tls.get': async () => tlsView(readTlsSettings(d.db)),
    'tls.set': async (input, ctx) =>
      d.audit.around(
        ctx,
        'tls.set',
        'ingress',
        async () => {
          const next: IngressTlsSettings = { ...readTlsSettings(d.db) };
          if (input.acmeDirectory !== undefined) next.acmeDirectory = input.acmeDirectory.trim();
          if (input.acmeEmail !== undefined) next.acmeEmail = input.acmeEmail.trim();
          if (input.acmeCaRootPem !== undefined) next.acmeCaRootPem = input.acmeCaRootPem.trim() === '' ? '' : input.acmeCaRootPem.trim() + '\n';
          if (input.httpRedirect !== undefined) next.httpRedirect = input.httpRedirect;
          const problems = tlsSettingsProblems(next);
          if (problems.length > 0) throw new ApiError('invalid_input', `TLS settings refused, nothing changed: ${problems.join('; ')}`, 'podploy tls set --acme-directory https://... [--email you@example.com] [--acme-ca-root root.pem] [--http-redirect public|all|off]');
          if (next.acmeCaRootPem) checkRoot(next.acmeCaRootPem);
          writeTlsSettings(d.db, next);
          const nodes = await Promise.all(d.nodes.all().map((row) => pushTo(d.fleet, row.id, row.name, next, `${ctx.actor} (${ctx.source})`)));
          return { settings: tlsView(next), nodes };
        },
        (r) => `ACME ${r.settings.acmeDirectory}, redirect ${r.settings.httpRedirect}; ${r.nodes.map((n) => `${n.node} ${n.ok ? 'ok' : 'failed'}`).join(', ') || 'no nodes'}`,
      ),
  };
}

async function pushTo(fleet: Fleet, nodeId: string, name: string, s: IngressTlsSettings, actor: string): Promise<TlsPush> {
  try {
    const conn = await fleet.link(nodeId).connection(TLS_PUSH_CONNECT_MS);
    const res = await conn.execute({ actor, setIngressSettings: toWire(s) });
    return { node: name, ok: true, message: res.message };
  } catch (err) {
    return { node: name, ok: false, message: err instanceof Error ? err.message : String(err) };
  }
}
