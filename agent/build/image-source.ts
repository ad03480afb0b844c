// Where a release's image comes from when it is not built here, and how a failed pull is told
// to the operator: bad credentials, no such image, or a registry the node cannot reach.
import { parseImageRef } from '../../proto/image-ref';
import { PodmanError } from '../podman/client';

// never: a localhost/ image exists only in the node's store (built or loaded there).
// if-missing: a digest pins the content, and a short name is whatever the node resolved.
// always: a tag in a named registry may have moved; the registry decides what it is now.
export type PullPolicy = 'never' | 'if-missing' | 'always';

export function pullPolicy(ref: string): PullPolicy {
  const parts = parseImageRef(ref);
  if (parts.registry === 'localhost') return 'never';
  if (parts.digest || !parts.explicitRegistry) return 'if-missing';
  return 'always';
}

export type PullFailureKind = 'unauthorized' | 'not-found' | 'unreachable' | 'tls' | 'other';

export function pullFailureKind(err: unknown): PullFailureKind {
  const text = err instanceof Error ? err.message : String(err);
  const cause = err instanceof PodmanError ? err.podmanCause : undefined;
  if (/server gave HTTP response to HTTPS client|x509|certificate|tls: /i.test(text)) return 'tls';
  if (cause === 'unauthorized' || /unauthorized|authentication required|incorrect username or password|denied/i.test(text)) return 'unauthorized';
  if (/connection refused|no such host|i\/o timeout|network is unreachable|no route to host|connection reset|TLS handshake timeout|dial tcp/i.test(text)) return 'unreachable';
  if (cause === 'not found' || /manifest unknown|name unknown|not found|404/i.test(text)) return 'not-found';
  return 'other';
}

// One sentence that says which failure it was and what to do, then Podman's own words.
export function imageStepFailure(ref: string, err: unknown, ctx: { user?: string; tlsVerify?: boolean }): string {
  const { registry, repository, tag, digest } = parseImageRef(ref);
  const detail = err instanceof Error ? err.message : String(err);
  const what = `${repository}${tag ? `:${tag}` : ''}${digest ? `@${digest}` : ''}`;
  switch (pullFailureKind(err)) {
    case 'unauthorized':
      return ctx.user
        ? `bad credentials: registry ${registry} refused user '${ctx.user}' for ${what}; log in again with \`podploy registry login ${registry} --username USER --password-stdin\` (${detail})`
        : `registry ${registry} requires credentials for ${what} and PodPloy has none for it; run \`podploy registry login ${registry} --username USER --password-stdin\` (${detail})`;
    case 'not-found':
      return `no such image: registry ${registry} has no ${what}; check the repository and tag (${detail})`;
    case 'unreachable':
      return `registry unreachable: the node cannot reach ${registry}; check the address and that the registry runs (${detail})`;
    case 'tls':
      return ctx.tlsVerify === false
        ? `registry ${registry}: TLS failed even with verification off (${detail})`
        : `registry ${registry}: TLS failed (a plain-HTTP registry, or a certificate the node does not trust); for a registry without valid TLS log in with \`podploy registry login ${registry} --insecure\` (${detail})`;
    default:
      return `pulling ${ref} failed: ${detail}`;
  }
}
