// Images through Podman's libpod REST API: inspect (id and digest), pull with progress and
// registry auth, build from a context tar with a live log, and prune what no release keeps.
import type { Readable } from 'node:stream';
import { isPodmanNotFound, PodmanError, podmanFilters, readJsonLines, withContext, type PodmanClient } from './client';

export const IMAGE_REQUEST_TIMEOUT_MS = 30_000;
// Pull and build stream progress; these are idle limits (nothing heard for this long), not totals.
export const PULL_IDLE_TIMEOUT_MS = 5 * 60_000;
export const BUILD_IDLE_TIMEOUT_MS = 15 * 60_000;
export const DEFAULT_CONTAINERFILE = 'Containerfile';
// How many of the last log lines an error carries.
const ERROR_LOG_LINES = 5;

export interface ImageInfo {
  id: string;
  // The manifest digest (sha256:…); what a release records.
  digest: string;
  repoDigests: string[];
  repoTags: string[];
  labels: Record<string, string>;
  createdAt?: Date;
  sizeBytes: number;
}

// Credentials for a private registry, sent in X-Registry-Auth.
export interface RegistryAuth {
  username: string;
  password: string;
  // The registry host (e.g. "127.0.0.1:5000"); Podman takes it from the reference when omitted.
  serveraddress?: string;
}

interface LibpodImage {
  Id: string;
  Digest?: string;
  RepoDigests?: string[] | null;
  RepoTags?: string[] | null;
  Names?: string[] | null;
  Labels?: Record<string, string> | null;
  Created?: string | number;
  Size?: number;
}

export async function inspectImage(podman: PodmanClient, ref: string): Promise<ImageInfo> {
  const raw = await withContext(`image ${ref}: inspect`, podman.json<LibpodImage>(`/images/${encodeURIComponent(ref)}/json`, { timeoutMs: IMAGE_REQUEST_TIMEOUT_MS }));
  return toImageInfo(raw);
}

// inspectImage, or undefined when the node does not have it.
export async function findImage(podman: PodmanClient, ref: string): Promise<ImageInfo | undefined> {
  try {
    return await inspectImage(podman, ref);
  } catch (err) {
    if (isPodmanNotFound(err)) return undefined;
    throw err;
  }
}

// Podman decodes X-Registry-Auth with Go's base64.URLEncoding: URL-safe alphabet, padded.
// The local image whose manifest digest (or one of its repo digests) is `digest`.
export async function findImageByDigest(podman: PodmanClient, digest: string): Promise<ImageInfo | undefined> {
  const list = await withContext(`find image ${digest}`, podman.json<LibpodImage[]>('/images/json', { timeoutMs: IMAGE_REQUEST_TIMEOUT_MS }));
  const hit = list.find((img) => img.Digest === digest || (img.RepoDigests ?? []).some((d) => d.endsWith(`@${digest}`)));
  return hit ? inspectImage(podman, hit.Id) : undefined;
}

export function registryAuthHeader(auth: RegistryAuth): string {
  return Buffer.from(JSON.stringify(auth)).toString('base64').replace(/\+/g, '-').replace(/\//g, '_');
}

export interface PullOptions {
  auth?: RegistryAuth;
  // false for a registry on plain HTTP (or self-signed) such as a loopback test registry.
  tlsVerify?: boolean;
  onProgress?: (line: string) => void;
  signal?: AbortSignal;
}

// Pulls ref (always asking the registry) and returns what landed. Podman answers HTTP 200 and
// reports failures inside the stream; they become errors here.
export async function pullImage(podman: PodmanClient, ref: string, options: PullOptions = {}): Promise<ImageInfo> {
  const context = `image ${ref}: pull`;
  const headers: Record<string, string> = {};
  if (options.auth) headers['X-Registry-Auth'] = registryAuthHeader(options.auth);
  const res = await withContext(
    context,
    podman.open('/images/pull', {
      method: 'POST',
      query: { reference: ref, tlsVerify: options.tlsVerify, policy: 'always' },
      headers,
      timeoutMs: PULL_IDLE_TIMEOUT_MS,
      signal: options.signal,
    }),
  );
  let failure: string | undefined;
  let id: string | undefined;
  await withStreamContext(context, podman, readJsonLines(res, (obj) => {
    if (typeof obj.error === 'string') failure = obj.error.trim();
    if (typeof obj.stream === 'string') for (const line of lines(obj.stream)) options.onProgress?.(line);
    if (typeof obj.id === 'string' && obj.id) id = obj.id;
  }), options.signal);
  if (failure) throw new PodmanError(`${context}: Podman at ${podman.socketPath} answered: ${failure}`, podman.socketPath, undefined, pullCause(failure));
  if (!id) throw new PodmanError(`${context}: Podman at ${podman.socketPath} ended the pull without an image id`, podman.socketPath);
  return inspectImage(podman, id);
}

// A short reason callers can branch on without parsing Podman's prose.
function pullCause(message: string): string {
  if (/unauthorized|authentication required|401/i.test(message)) return 'unauthorized';
  if (/manifest unknown|not found|name unknown|404/i.test(message)) return 'not found';
  if (/invalid reference format/i.test(message)) return 'invalid reference';
  return 'pull failed';
}

export interface BuildOptions {
  // Path of the Containerfile inside the context.
  containerfile?: string;
  // Name to tag the result with (e.g. "localhost/podploy/web:r12").
  tag?: string;
  buildArgs?: Record<string, string>;
  labels?: Record<string, string>;
  onLog?: (line: string) => void;
  signal?: AbortSignal;
}

// Builds from a tar of the context (a Buffer or a stream, e.g. `git archive` output) and returns
// the new image's id. Podman answers HTTP 200 and reports a failed step inside the stream; that
// becomes an error carrying the last lines of the log.
export async function buildImage(podman: PodmanClient, context: Buffer | Readable, options: BuildOptions = {}): Promise<{ id: string }> {
  const containerfile = options.containerfile ?? DEFAULT_CONTAINERFILE;
  const what = `build${options.tag ? ` of ${options.tag}` : ''} (${containerfile})`;
  const res = await withContext(
    what,
    podman.open('/build', {
      method: 'POST',
      query: {
        dockerfile: containerfile,
        t: options.tag,
        rm: true,
        buildargs: options.buildArgs ? JSON.stringify(options.buildArgs) : undefined,
        labels: options.labels ? JSON.stringify(options.labels) : undefined,
      },
      headers: { 'Content-Type': 'application/x-tar' },
      body: context,
      timeoutMs: BUILD_IDLE_TIMEOUT_MS,
      signal: options.signal,
    }),
  );
  let failure: string | undefined;
  let lastId: string | undefined;
  const recent: string[] = [];
  await withStreamContext(what, podman, readJsonLines(res, (obj) => {
    if (typeof obj.error === 'string') failure = obj.error.trim();
    const aux = obj.aux as { ID?: string } | undefined;
    if (typeof aux?.ID === 'string') lastId = aux.ID;
    if (typeof obj.stream !== 'string') return;
    for (const line of lines(obj.stream)) {
      options.onLog?.(line);
      recent.push(line);
      if (recent.length > ERROR_LOG_LINES) recent.shift();
      // Podman 4.3 ends a good build with the full image id on a line of its own (no "aux").
      if (/^(sha256:)?[0-9a-f]{64}$/.test(line)) lastId = line;
    }
  }), options.signal);
  if (failure) {
    throw new PodmanError(`${what}: Podman at ${podman.socketPath} answered: ${failure}${recent.length ? `\nlast lines of the build log:\n${recent.join('\n')}` : ''}`, podman.socketPath, undefined, 'build failed');
  }
  if (lastId) return { id: lastId.replace(/^sha256:/, '') };
  if (options.tag) return { id: (await inspectImage(podman, options.tag)).id };
  throw new PodmanError(`${what}: Podman at ${podman.socketPath} ended the build without an image id`, podman.socketPath);
}

export interface RemoveImageOptions {
  // Untag and remove even when other tags or stopped containers use it.
  force?: boolean;
  ignoreMissing?: boolean;
}

export async function removeImage(podman: PodmanClient, ref: string, options: RemoveImageOptions = {}): Promise<{ removed: boolean }> {
  try {
    await withContext(`image ${ref}: remove`, podman.call(`/images/${encodeURIComponent(ref)}`, { method: 'DELETE', query: { force: options.force ?? false }, timeoutMs: IMAGE_REQUEST_TIMEOUT_MS }));
    return { removed: true };
  } catch (err) {
    if (options.ignoreMissing && isPodmanNotFound(err)) return { removed: false };
    throw err;
  }
}

export interface PruneOptions {
  // Which images are candidates: by repository (e.g. "localhost/podploy/web", Podman's
  // `reference` filter) and/or by label ("podploy.app=web"). At least one is required: this
  // never prunes the whole node.
  reference?: string[];
  label?: string[];
  // Ids (with or without "sha256:"), digests or names of the images to keep.
  keep: Iterable<string>;
}

export interface PruneResult {
  removed: string[];
  kept: string[];
  // Images that could not be removed (for example a container still uses them), with Podman's reason.
  failed: { id: string; reason: string }[];
}

// Removes the candidate images that the keep-set does not name. Images in use stay (failed).
export async function pruneImages(podman: PodmanClient, options: PruneOptions): Promise<PruneResult> {
  const filters = podmanFilters({ reference: options.reference, label: options.label });
  if (!filters) throw new Error('prune images: give a reference or a label filter (refusing to consider every image on the node)');
  const keep = new Set([...options.keep].map(normalizeId));
  const list = await withContext(`prune images (${filters})`, podman.json<LibpodImage[]>('/images/json', { query: { filters }, timeoutMs: IMAGE_REQUEST_TIMEOUT_MS }));
  const result: PruneResult = { removed: [], kept: [], failed: [] };
  for (const img of list) {
    const names = [img.Id, img.Digest, ...(img.RepoDigests ?? []), ...(img.RepoTags ?? []), ...(img.Names ?? [])].filter((n): n is string => !!n).map(normalizeId);
    if (names.some((n) => keep.has(n))) {
      result.kept.push(img.Id);
      continue;
    }
    try {
      await removeImage(podman, img.Id, { force: false, ignoreMissing: true });
      result.removed.push(img.Id);
    } catch (err) {
      result.failed.push({ id: img.Id, reason: (err as Error).message });
    }
  }
  return result;
}

function normalizeId(value: string): string {
  return value.replace(/^sha256:/, '');
}

function toImageInfo(raw: LibpodImage): ImageInfo {
  const created = typeof raw.Created === 'number' ? new Date(raw.Created * 1_000) : raw.Created ? new Date(raw.Created) : undefined;
  return {
    id: raw.Id,
    digest: raw.Digest ?? '',
    repoDigests: raw.RepoDigests ?? [],
    repoTags: raw.RepoTags ?? [],
    labels: raw.Labels ?? {},
    createdAt: created && !Number.isNaN(created.getTime()) ? created : undefined,
    sizeBytes: raw.Size ?? 0,
  };
}

function lines(text: string): string[] {
  return text.split('\n').map((l) => l.replace(/\r$/, '')).filter((l) => l.length > 0);
}

// A stream that broke (socket closed, idle timeout, cancelled) as a PodmanError with context.
async function withStreamContext(context: string, podman: PodmanClient, reading: Promise<void>, signal?: AbortSignal): Promise<void> {
  try {
    await reading;
  } catch (err) {
    const why = signal?.aborted ? 'cancelled' : (err as Error).message;
    throw new PodmanError(`${context}: Podman at ${podman.socketPath}: the progress stream failed: ${why}`, podman.socketPath);
  }
}
