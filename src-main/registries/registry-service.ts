import { ApiError } from '../api/contract';
import type { Handlers } from '../api/router';
import type { AuditLog } from '../audit';
import type { RegistryStore } from './registry-store';

export interface RegistryServiceDeps {
  store: RegistryStore;
  audit: AuditLog;
}

// `podploy registry login|list|logout`. Credentials are not tried at login: the control plane
// may not reach a registry its nodes reach; the first deploy from it tells (bad credentials,
// no such image, or unreachable, at step "image").
export function registryHandlers(d: RegistryServiceDeps): Pick<Handlers, 'registries.login' | 'registries.list' | 'registries.logout'> {
  return {
    'registries.login': async ({ server, username, password, insecure }, ctx) =>
      d.audit.around(
        ctx,
        'registry.login',
        server,
        async () => {
          const cred = { server, username, password, insecure, loggedInAt: Date.now(), loggedInBy: `${ctx.actor} (${ctx.source})` };
          const { replaced } = d.store.login(cred);
          const { password: _password, ...summary } = cred;
          return { ...summary, replaced };
        },
        (r) => `user ${r.username}${r.insecure ? ', insecure (no TLS verification)' : ''}${r.replaced ? ', replaced the previous credentials' : ''}`,
      ),
    'registries.list': async () => d.store.list(),
    'registries.logout': async ({ server }, ctx) =>
      d.audit.around(ctx, 'registry.logout', server, async () => {
        if (!d.store.logout(server)) throw new ApiError('not_found', `no credentials for registry ${server}`, 'see `podploy registry list`');
        return { server };
      }),
  };
}
