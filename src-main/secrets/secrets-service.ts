// secrets.set / secrets.unset / secrets.list: write-only. Answers carry names, who and when,
// and the version; the audit log names the changed secrets, never a value.
import { eq } from 'drizzle-orm';
import { ApiError, type SecretsSummary } from '../api/contract';
import type { Handlers } from '../api/router';
import type { AuditLog } from '../audit';
import type { Db } from '../db/database';
import { apps } from '../db/schema';
import type { SecretStore } from './secret-store';

export interface SecretsServiceDeps {
  db: Db;
  store: SecretStore;
  audit: AuditLog;
}

export function secretsHandlers(d: SecretsServiceDeps): Pick<Handlers, 'secrets.set' | 'secrets.unset' | 'secrets.list'> {
  const requireApp = (name: string) => {
    const row = d.db.select().from(apps).where(eq(apps.name, name)).get();
    if (!row) throw new ApiError('not_found', `no app named '${name}'`, 'list apps with `podploy app list`');
    return row;
  };
  const summary = (app: string, s: { version: number; entries: SecretsSummary['secrets'] }): SecretsSummary => ({ app, version: s.version, secrets: s.entries });
  const names = (list: string[]) => list.slice().sort().join(', ');

  return {
    'secrets.set': async ({ app, values }, ctx) =>
      d.audit.around(
        ctx,
        'secrets.set',
        app,
        async () => summary(app, d.store.set(requireApp(app).id, values, ctx.actor)),
        (r) => `version ${r.version}: set ${names(Object.keys(values))}; the next deploy applies it`,
      ),
    'secrets.unset': async ({ app, names: list }, ctx) =>
      d.audit.around(
        ctx,
        'secrets.unset',
        app,
        async () => summary(app, d.store.unset(requireApp(app).id, list, ctx.actor)),
        (r) => `version ${r.version}: unset ${names(list)}; the next deploy applies it`,
      ),
    'secrets.list': async ({ app }) => summary(app, d.store.current(requireApp(app).id)),
  };
}
