// Which registry an image reference names, by the rules Docker and Podman use: the first path
// component is a registry host when it has a dot or a port or is "localhost"; otherwise the
// image is on Docker Hub. Pure: the control plane picks credentials with it, the agent words
// its errors with it.
export const DOCKER_HUB = 'docker.io';
const DOCKER_HUB_ALIASES = ['index.docker.io', 'registry-1.docker.io', 'registry.hub.docker.com'];

export interface ImageRefParts {
  // host[:port], lowercase; DOCKER_HUB for short names.
  registry: string;
  // The repository path without the registry, e.g. "library/nginx" or "team/app".
  repository: string;
  tag?: string;
  digest?: string;
  // True when the reference names its registry itself (not a short name).
  explicitRegistry: boolean;
}

export function parseImageRef(ref: string): ImageRefParts {
  let rest = ref;
  let digest: string | undefined;
  const at = rest.indexOf('@');
  if (at >= 0) {
    digest = rest.slice(at + 1);
    rest = rest.slice(0, at);
  }
  const slash = rest.indexOf('/');
  const first = slash >= 0 ? rest.slice(0, slash) : '';
  const explicitRegistry = slash >= 0 && (first.includes('.') || first.includes(':') || first === 'localhost');
  let registry = explicitRegistry ? normalizeRegistry(first) : DOCKER_HUB;
  let path = explicitRegistry ? rest.slice(slash + 1) : rest;
  let tag: string | undefined;
  const colon = path.lastIndexOf(':');
  if (colon >= 0) {
    tag = path.slice(colon + 1);
    path = path.slice(0, colon);
  }
  if (registry === DOCKER_HUB && !path.includes('/')) path = `library/${path}`;
  if (DOCKER_HUB_ALIASES.includes(registry)) registry = DOCKER_HUB;
  return { registry, repository: path, ...(tag ? { tag } : {}), ...(digest ? { digest } : {}), explicitRegistry };
}

// A registry as an operator may type it ("https://Registry.example.com:5000/", "index.docker.io")
// in the one form PodPloy stores and matches: lowercase host[:port].
export function normalizeRegistry(server: string): string {
  const host = server.trim().toLowerCase().replace(/^[a-z]+:\/\//, '').replace(/\/.*$/, '');
  return DOCKER_HUB_ALIASES.includes(host) ? DOCKER_HUB : host;
}

// host, host:port, [v6]:port: what normalizeRegistry may return for a valid server.
export function isRegistryHost(host: string): boolean {
  return /^(\[[0-9a-f:.]+\]|[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?(\.[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)*)(:\d{1,5})?$/.test(host);
}
