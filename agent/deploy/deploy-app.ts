// The deploy of one release of one app on this node, in the issue's order:
//   1 image   get the image (local, else pull) and record its digest
//   2 start   create and start v2 in the app's idle slot
//   3 health  wait until v2's health check passes
//   4 switch  put v2 into service and take v1 out, without a gap (slot gates; Caddy's config
//             never changes)
//   5 drain   wait until Caddy has no request in flight to v1
//   6 stop    stop v1 (SIGTERM, SIGKILL after the grace period) and remove it
// A failure before v2 is in service removes v2 and leaves v1 serving. Deploys of one app are
// serialised by refusal: a second deploy while one runs is refused at once with
// DeployRefusedError (nothing is changed); the caller may retry or queue. The lock lives in the
// Deployer, so an agent holds exactly one Deployer.
import { dirname, join } from 'node:path';
import type { Logger } from '../logger';
import type { CaddyAdmin } from '../ingress/caddy-admin';
import type { SlotGate } from '../ingress/slot-gate';
import { drainUpstream, moveTraffic } from '../ingress/slot-swap';
import { dialAddress, otherSlot, type AppSlots, type SlotAddress, type SlotName } from '../ingress/slots';
import type { PodmanClient } from '../podman/client';
import {
  createContainer,
  findContainer,
  listContainers,
  PODPLOY_LABELS,
  podployLabels,
  removeContainer,
  startContainer,
  stopContainer,
  type ContainerSpec,
} from '../podman/containers';
import { findImage, findImageByDigest, pullImage, removeImage, type ImageInfo, type RegistryAuth } from '../podman/images';
import { BUILD_FOLDER, buildFromGit, GitBuildError } from '../build/git-build';
import { imageStepFailure, pullPolicy } from '../build/image-source';
import { parseImageRef } from '../../proto/image-ref';
import { livenessProblems, RESTART_DEFAULTS, restartPolicyProblems, type LivenessSettings, type RestartPolicySettings } from '../../proto/lazarus-defaults';
import { AppStateStore, type LiveRelease } from './app-state';
import * as D from './constants';
import { describeCheck, waitHealthy, type HealthSettings } from './health-wait';

export const DEPLOY_STEPS = ['image', 'start', 'health', 'switch', 'drain', 'stop'] as const;
export type DeployStepName = (typeof DEPLOY_STEPS)[number];

export interface DeployEvent {
  app: string;
  release: string;
  // 1-6, in DEPLOY_STEPS order.
  step: number;
  name: DeployStepName;
  state: 'running' | 'done' | 'failed';
  message: string;
  // 0 while running; the step's duration once done or failed.
  durationMs: number;
}

export type DeployEventListener = (event: DeployEvent) => void;

// One release as the agent receives it; every field left out takes its default from constants.ts.
export interface DeployRequest {
  app: string;
  release: string;
  image: string;
  pull?: { auth?: RegistryAuth; tlsVerify?: boolean };
  // Build `image` (the tag) on the node from this repository instead of pulling it.
  git?: { url: string; ref: string; containerfile: string };
  // The release's secrets sealed for this node (proto/node-seal.ts); opened only by the
  // secrets hook, at container start.
  sealedSecrets?: Uint8Array;
  // Replaces the image's CMD; empty or absent keeps it.
  command?: string[];
  env?: Record<string, string>;
  // The port the app listens on inside the container.
  port?: number;
  health?: Partial<HealthSettings>;
  cpus?: number;
  memoryMb?: number;
  stopGraceMs?: number;
  drainMs?: number;
  // Podman named volumes mounted at `path`; they outlive releases.
  volumes?: { name: string; path: string }[];
  // Run exactly this image (a rollback): a local image with this digest, else `image` pulled
  // by digest. Skips the build of a git source.
  imageDigest?: string;
  // The images of the app's last N releases stay on the node; older ones are removed.
  keepReleases?: number;
  // How Lazarus restarts the live container (each absent field: RESTART_DEFAULTS).
  restart?: Partial<RestartPolicySettings>;
  // Lazarus's liveness probe of the live container; absent: none.
  liveness?: LivenessSettings;
}

export interface DeployResult {
  ok: boolean;
  app: string;
  release: string;
  slot: SlotName;
  container: string;
  image?: { ref: string; id: string; digest: string };
  // Set when ok is false.
  failedStep?: { step: number; name: DeployStepName; reason: string };
  // Which release serves the app now (undefined when nothing does).
  serving?: { release: string; slot: SlotName };
  // The final event of every step that ran.
  steps: DeployEvent[];
  totalMs: number;
}

// An app's two slots and their gates, as the ingress layer keeps them.
export interface AppIngress {
  slots: AppSlots;
  gates: Record<SlotName, SlotGate>;
}

export interface GateRegistry {
  lookup(app: string): AppIngress | undefined;
}

// SECRETS HOOK (not wired yet). It receives v2's container spec before create and returns the
// spec to create. Whatever it adds must deliver secret values WITHOUT plain text on disk or in
// `podman inspect` (so not through `env`: Podman writes env into config.json). Default: none.
export type SecretsHook = (ids: { app: string; release: string; sealedSecrets?: Uint8Array }, spec: ContainerSpec) => Promise<ContainerSpec>;

export interface DeployDeps {
  podman: PodmanClient;
  caddy: CaddyAdmin;
  gates: GateRegistry;
  stateDir: string;
  secrets?: SecretsHook;
  // Called after a container is removed (its secrets' tmpfs folder goes with it).
  forgetSecrets?: (container: string) => Promise<void>;
  log?: Logger;
}

// Nothing was changed: the deploy did not start (busy app, invalid request, unknown app).
export class DeployRefusedError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'DeployRefusedError';
  }
}

class StepFailed extends Error {}

const RELEASE_ID = /^[a-zA-Z0-9][a-zA-Z0-9_.-]{0,62}$/;
const MS_PER_S = 1_000;

interface Release extends Required<Omit<DeployRequest, 'pull' | 'git' | 'sealedSecrets' | 'health' | 'cpus' | 'memoryMb' | 'imageDigest' | 'restart' | 'liveness'>> {
  imageDigest?: string;
  restart: RestartPolicySettings;
  liveness?: LivenessSettings;
  sealedSecrets?: Uint8Array;
  pull: DeployRequest['pull'];
  git: DeployRequest['git'];
  health: HealthSettings;
  cpus?: number;
  memoryMb?: number;
}

export class Deployer {
  readonly state: AppStateStore;
  private readonly running = new Map<string, { release: string; startedAt: Date; step: DeployStepName }>();

  constructor(private readonly deps: DeployDeps) {
    this.state = new AppStateStore(deps.stateDir);
  }

  // Runs the six steps. Resolves with the outcome (also a failed one); rejects only with
  // DeployRefusedError, before anything changed.
  async deploy(request: DeployRequest, onEvent?: DeployEventListener): Promise<DeployResult> {
    const r = withDefaults(request);
    const ingress = this.deps.gates.lookup(r.app);
    if (!ingress) throw new DeployRefusedError(`app ${r.app}: no ingress slots on this node; create the app's route before deploying it`);
    const busy = this.running.get(r.app);
    if (busy) {
      throw new DeployRefusedError(
        `app ${r.app}: a deploy of release ${busy.release} is in progress (started ${busy.startedAt.toISOString()}, at step "${busy.step}"); ` +
          `release ${r.release} was not deployed: wait for that deploy to finish, then try again`,
      );
    }
    const lock = { release: r.release, startedAt: new Date(), step: DEPLOY_STEPS[0] as DeployStepName };
    this.running.set(r.app, lock);
    try {
      return await this.run(r, ingress, lock, onEvent);
    } finally {
      this.running.delete(r.app);
    }
  }

  inProgress(app: string): { release: string; startedAt: Date; step: DeployStepName } | undefined {
    const busy = this.running.get(app);
    return busy ? { ...busy } : undefined;
  }

  // The apps with a deploy running now (the ingress runtime changes Caddy's config only when
  // this is empty).
  inProgressApps(): string[] {
    return [...this.running.keys()];
  }

  private async run(r: Release, ingress: AppIngress, lock: { step: DeployStepName }, onEvent?: DeployEventListener): Promise<DeployResult> {
    const v1 = this.state.live(r.app);
    const slot = v1 ? otherSlot(v1.slot) : D.FIRST_DEPLOY_SLOT;
    const container = containerName(r.app, slot, r.release);
    const started = Date.now();
    const steps: DeployEvent[] = [];
    const result = (ok: boolean, extra: Partial<DeployResult> = {}): DeployResult => {
      const live = this.state.live(r.app);
      return { ok, app: r.app, release: r.release, slot, container, steps, totalMs: Date.now() - started, serving: live && { release: live.release, slot: live.slot }, ...extra };
    };
    const emit = (e: Omit<DeployEvent, 'app' | 'release' | 'step'>) => {
      const event: DeployEvent = { app: r.app, release: r.release, step: DEPLOY_STEPS.indexOf(e.name) + 1, ...e };
      if (event.state !== 'running') steps.push(event);
      this.deps.log?.info({ event: 'deploy_step', ...event }, `deploy ${r.app} ${r.release}: ${event.name} ${event.state}`);
      try {
        onEvent?.(event);
      } catch {
        // A listener's bug must not break the deploy.
      }
    };
    // Runs one step: events around it; a thrown error becomes StepFailed with the step's words.
    const step = async <T>(name: DeployStepName, work: () => Promise<{ value: T; message: string }>): Promise<T> => {
      lock.step = name;
      const t0 = Date.now();
      emit({ name, state: 'running', message: STEP_TITLES[name], durationMs: 0 });
      try {
        const { value, message } = await work();
        emit({ name, state: 'done', message, durationMs: Date.now() - t0 });
        return value;
      } catch (err) {
        emit({ name, state: 'failed', message: (err as Error).message, durationMs: Date.now() - t0 });
        throw new StepFailed((err as Error).message);
      }
    };
    const failure = (name: DeployStepName, reason: string) => ({ step: DEPLOY_STEPS.indexOf(name) + 1, name, reason });

    // Steps 1-4: until v2 is confirmed in service, any failure removes v2 and v1 keeps serving.
    let image: ImageInfo | undefined;
    try {
      image = await step('image', () => this.getImage(r, (line) => emit({ name: 'image', state: 'running', message: line, durationMs: 0 })));
      await step('start', () => this.startV2(r, ingress, slot, container, image as ImageInfo));
      await step('health', () => this.waitV2Healthy(r, ingress, slot, container));
      await step('switch', () => this.putInService(ingress, slot, v1));
    } catch (err) {
      if (!(err instanceof StepFailed)) throw err;
      const failedName = lock.step;
      const imageRecord = image && { ref: r.image, id: image.id, digest: image.digest };
      // The switch confirmed v2 in service but could not confirm v1 out of it: v2 serves now.
      if (failedName === 'switch' && ingress.gates[slot].current === 'open') {
        this.recordLive(r, slot, container, image as ImageInfo);
        const left = v1 ? `; ${v1.container} (release ${v1.release}) was left running with its gate closed (the next deploy removes it)` : '';
        return result(false, { image: imageRecord, failedStep: failure(failedName, `${err.message}; release ${r.release} serves${left}`) });
      }
      const cleanup = await this.removeV2(container);
      const serving = v1 ? `release ${v1.release} keeps serving` : 'nothing was serving before and nothing serves now';
      return result(false, { image: imageRecord, failedStep: failure(failedName, `${err.message}; ${serving}; ${cleanup}`) });
    }
    const imageRecord = { ref: r.image, id: image.id, digest: image.digest };
    const stale = this.recordLive(r, slot, container, image);

    // Steps 5-6: v2 serves. A failure here leaves v1 running, out of service.
    try {
      await step('drain', () => this.drainV1(r, ingress, v1));
      await step('stop', async () => {
        const stopped = await this.stopV1(v1);
        return { value: undefined, message: stopped.message + (await this.pruneImages(stale, r.keepReleases)) };
      });
    } catch (err) {
      if (!(err instanceof StepFailed)) throw err;
      const left = v1 ? `; ${v1.container} (release ${v1.release}) is out of service but was not removed (the next deploy removes it)` : '';
      return result(false, { image: imageRecord, failedStep: failure(lock.step, `${err.message}; release ${r.release} serves${left}`) });
    }
    return result(true, { image: imageRecord });
  }

  // Step 1: build from git (each build log line is a "running" event of this step), or use the
  // image on the node, or pull it (see pullPolicy).
  private async getImage(r: Release, onLine: (line: string) => void): Promise<{ value: ImageInfo; message: string }> {
    const { podman } = this.deps;
    if (r.imageDigest) return this.pinnedImage(r, onLine);
    if (r.git) {
      const git = r.git;
      try {
        const built = await buildFromGit(
          { app: r.app, release: r.release, url: git.url, ref: git.ref, containerfile: git.containerfile, tag: r.image },
          { podman, workRoot: join(dirname(this.deps.stateDir), BUILD_FOLDER), onLog: onLine },
        );
        return { value: built.image, message: `built ${r.image} from ${git.url} at ${git.ref} (commit ${built.commit.slice(0, 12)}, ${built.containerfile}): ${built.image.digest || built.image.id}` };
      } catch (err) {
        if (err instanceof GitBuildError) throw new Error(`${err.phase === 'build' ? 'the build failed' : `git ${err.phase}`}: ${err.message}`);
        throw err;
      }
    }
    const policy = pullPolicy(r.image);
    const local = policy === 'always' ? undefined : await findImage(podman, r.image);
    if (local) return { value: local, message: `${r.image} is on the node: ${local.digest || local.id}` };
    if (policy === 'never') throw new Error(`${r.image} is not on the node, and a localhost/ image cannot be pulled: build or load it on the node, or push it to a registry`);
    return this.pull(r, r.image, onLine);
  }

  private async pull(r: Release, ref: string, onLine: (line: string) => void): Promise<{ value: ImageInfo; message: string }> {
    try {
      const pulled = await pullImage(this.deps.podman, ref, { auth: r.pull?.auth, tlsVerify: r.pull?.tlsVerify, onProgress: onLine });
      return { value: pulled, message: `pulled ${ref}${r.pull?.auth ? ` as ${r.pull.auth.username}` : ''}: ${pulled.digest || pulled.id}` };
    } catch (err) {
      throw new Error(imageStepFailure(ref, err, { user: r.pull?.auth?.username, tlsVerify: r.pull?.tlsVerify }));
    }
  }

  // A rollback runs the release's exact image: the local one with its digest, else a pull of
  // repository@digest. A localhost/ image that was pruned cannot come back.
  private async pinnedImage(r: Release, onLine: (line: string) => void): Promise<{ value: ImageInfo; message: string }> {
    const digest = r.imageDigest as string;
    const local = await findImageByDigest(this.deps.podman, digest);
    if (local) return { value: local, message: `${r.image} at ${digest} is on the node` };
    if (pullPolicy(r.image) === 'never') {
      throw new Error(`the image of this release (${r.image} ${digest}) is no longer on the node (only the last ${r.keepReleases} releases' images are kept); deploy it anew instead`);
    }
    const ref = parseImageRef(r.image);
    return this.pull(r, `${ref.registry}/${ref.repository}@${digest}`, onLine);
  }

  // Step 2. The idle slot may hold a container an interrupted deploy left: it is not serving
  // (its gate is closed), so it goes.
  private async startV2(r: Release, ingress: AppIngress, slot: SlotName, name: string, image: ImageInfo): Promise<{ value: void; message: string }> {
    const { podman } = this.deps;
    if (ingress.gates[slot].current === 'open') {
      throw new Error(`slot ${slot} (${dialAddress(ingress.slots[slot])}) is in service although the node's state says it is idle; refusing to replace what may be serving`);
    }
    const leftovers = await listContainers(podman, { labels: { [PODPLOY_LABELS.app]: r.app, [PODPLOY_LABELS.slot]: slot } });
    const stale = (await findContainer(podman, name)) ? [name] : [];
    const removed = [...new Set([...leftovers.map((c) => c.name), ...stale])];
    for (const c of removed) {
      await removeContainer(podman, c, { force: true, ignoreMissing: true });
      await this.deps.forgetSecrets?.(c);
    }
    const address = ingress.slots[slot];
    await createReleaseContainer(this.deps, r, { slot, address, name, imageId: image.id });
    try {
      await startContainer(podman, name);
    } catch (err) {
      await removeContainer(podman, name, { force: true, ignoreMissing: true }).catch(() => undefined);
      await this.deps.forgetSecrets?.(name).catch(() => undefined);
      throw err;
    }
    const extra = removed.length ? `; removed leftover ${removed.join(', ')}` : '';
    return { value: undefined, message: `${name} started in slot ${slot}: ${dialAddress(address)} -> container port ${r.port}${extra}` };
  }

  // Step 3.
  private async waitV2Healthy(r: Release, ingress: AppIngress, slot: SlotName, name: string): Promise<{ value: void; message: string }> {
    const target = ingress.slots[slot];
    const waited = await waitHealthy({
      target,
      health: r.health,
      containerGone: async () => {
        const info = await findContainer(this.deps.podman, name);
        if (!info) return `${name} no longer exists`;
        if (!info.running) return `${name} exited with code ${info.exitCode}${info.oomKilled ? ' (out of memory)' : ''}`;
        return undefined;
      },
    });
    if (!waited.healthy) throw new Error(`health check failed: ${waited.reason}`);
    return { value: undefined, message: `${describeCheck(target, r.health)} passed after ${waited.elapsedMs} ms (${waited.checks} checks)` };
  }

  // Step 4: the gates move traffic; Caddy's configuration stays as it is.
  private async putInService(ingress: AppIngress, slot: SlotName, v1: LiveRelease | undefined): Promise<{ value: void; message: string }> {
    const to = { gate: ingress.gates[slot], dial: dialAddress(ingress.slots[slot]) };
    if (!v1) {
      to.gate.open();
      try {
        await to.gate.confirm();
      } catch (err) {
        to.gate.close();
        throw err;
      }
      return { value: undefined, message: `slot ${slot} in service (first deploy: nothing to take out of service)` };
    }
    const from = { gate: ingress.gates[v1.slot], dial: dialAddress(ingress.slots[v1.slot]) };
    // Drain is step 5, so moveTraffic only looks once (deadline 0) and its drain is ignored.
    const moved = await moveTraffic({ admin: this.deps.caddy, from, to, drainDeadlineMs: 0, log: this.deps.log });
    return { value: undefined, message: `slot ${slot} in service after ${moved.openMs} ms; slot ${v1.slot} out of service after ${moved.closeMs} ms` };
  }

  // Step 5. A drain that reaches its deadline is not a failure: v1 is stopped anyway.
  private async drainV1(r: Release, ingress: AppIngress, v1: LiveRelease | undefined): Promise<{ value: void; message: string }> {
    if (!v1) return { value: undefined, message: 'first deploy: nothing to drain' };
    const dial = dialAddress(ingress.slots[v1.slot]);
    const { drained, inFlight } = await drainUpstream(this.deps.caddy, dial, r.drainMs);
    return { value: undefined, message: drained ? `no request in flight to ${dial}` : `drain deadline ${r.drainMs} ms passed with ${inFlight} request(s) in flight to ${dial}` };
  }

  // Step 6.
  private async stopV1(v1: LiveRelease | undefined): Promise<{ value: void; message: string }> {
    if (!v1) return { value: undefined, message: 'first deploy: nothing to stop' };
    const grace = Math.ceil(v1.stopGraceMs / MS_PER_S);
    const t0 = Date.now();
    const { wasRunning } = await stopContainer(this.deps.podman, v1.container, { graceSeconds: grace });
    const stopMs = Date.now() - t0;
    await removeContainer(this.deps.podman, v1.container, { force: true, ignoreMissing: true });
    await this.deps.forgetSecrets?.(v1.container);
    return { value: undefined, message: `${v1.container} (release ${v1.release}) ${wasRunning ? `stopped in ${stopMs} ms (grace ${grace} s)` : 'was not running'} and removed` };
  }

  // Returns the image ids that fell out of the app's last keepReleases releases.
  private recordLive(r: Release, slot: SlotName, container: string, image: ImageInfo): string[] {
    const prev = this.state.live(r.app);
    const history = [...(prev?.recentImages ?? (prev ? [prev.imageId] : [])).filter((id) => id !== image.id), image.id];
    const keep = history.slice(-Math.max(1, r.keepReleases));
    this.state.setLive(r.app, {
      slot,
      release: r.release,
      container,
      image: r.image,
      imageId: image.id,
      digest: image.digest,
      stopGraceMs: r.stopGraceMs,
      since: new Date().toISOString(),
      recentImages: keep,
    });
    return history.slice(0, history.length - keep.length);
  }

  // Images still used by a container (or tagged for something else) stay; that is not an error.
  private async pruneImages(ids: string[], keepReleases: number): Promise<string> {
    let removed = 0;
    for (const id of ids) {
      try {
        if ((await removeImage(this.deps.podman, id, { force: false, ignoreMissing: true })).removed) removed++;
      } catch (err) {
        this.deps.log?.warn({ event: 'image_prune_skipped', image: id, reason: (err as Error).message }, 'an old release image was kept');
      }
    }
    return removed ? `; removed ${removed} image(s) older than the last ${keepReleases} releases` : '';
  }

  private async removeV2(name: string): Promise<string> {
    try {
      const { removed } = await removeContainer(this.deps.podman, name, { force: true, ignoreMissing: true });
      await this.deps.forgetSecrets?.(name);
      return removed ? `${name} removed` : `${name} was not created`;
    } catch (err) {
      return `removing ${name} failed too: ${(err as Error).message}`;
    }
  }
}

const STEP_TITLES: Record<DeployStepName, string> = {
  image: 'getting the image',
  start: 'creating and starting the new container in the idle slot',
  health: 'waiting for the health check to pass',
  switch: 'putting the new container into service and taking the old one out',
  drain: 'draining requests in flight to the old container',
  stop: 'stopping and removing the old container',
};

// Podman's name for a release's container: app, slot and release, so a redeploy of the live
// release (into the other slot) never collides with it.
export function containerName(app: string, slot: SlotName, release: string): string {
  return `podploy-${app}-${slot}-${release}`;
}

// Where a release's container runs: its slot, the slot's host address, its name and image.
export interface ContainerPlacement {
  slot: SlotName;
  address: SlotAddress;
  name: string;
  imageId: string;
}

// The container of one release in one slot, exactly as a deploy creates it (before the secrets
// hook). Throws DeployRefusedError for an invalid request.
export function releaseContainerSpec(req: DeployRequest, at: ContainerPlacement): ContainerSpec {
  const r = withDefaults(req);
  return {
    name: at.name,
    image: at.imageId,
    command: r.command.length ? r.command : undefined,
    env: { ...r.env },
    labels: podployLabels({ app: r.app, release: r.release, slot: at.slot }),
    ports: [{ hostIp: at.address.ip, hostPort: at.address.port, containerPort: r.port }],
    memoryBytes: r.memoryMb === undefined ? undefined : r.memoryMb * 1024 * 1024,
    cpus: r.cpus,
    stopGraceSeconds: Math.ceil(r.stopGraceMs / MS_PER_S),
    restartPolicy: 'no',
    volumes: r.volumes.map((v) => ({ name: v.name, destination: v.path })),
  };
}

// Creates (not starts) the release's container through the secrets hook: what the deploy's
// step 2 does, and what Lazarus does when the live container went missing.
export async function createReleaseContainer(deps: Pick<DeployDeps, 'podman' | 'secrets'>, req: DeployRequest, at: ContainerPlacement): Promise<string> {
  let spec = releaseContainerSpec(req, at);
  if (deps.secrets) spec = await deps.secrets({ app: req.app, release: req.release, sealedSecrets: req.sealedSecrets }, spec);
  return createContainer(deps.podman, spec);
}

// Lazarus's settings of a release, defaults filled in. Throws DeployRefusedError when invalid.
export function lazarusSettings(req: DeployRequest): { restart: RestartPolicySettings; liveness?: LivenessSettings } {
  const r = withDefaults(req);
  return { restart: r.restart, liveness: r.liveness };
}

// Throws DeployRefusedError when the Deployer would refuse `req` as invalid (for callers that
// prepare other things, e.g. the app's ingress, before they call deploy).
export function checkDeployRequest(req: DeployRequest): void {
  withDefaults(req);
}

function withDefaults(req: DeployRequest): Release {
  const problems: string[] = [];
  if (!/^[a-z0-9][a-z0-9-]{0,62}$/.test(req.app ?? '')) problems.push(`app name "${req.app}" must be lowercase letters, digits and dashes`);
  if (!RELEASE_ID.test(req.release ?? '')) problems.push(`release id "${req.release}" must be letters, digits, _ . - (at most 63)`);
  if (!req.image) problems.push('no image');
  const health: HealthSettings = {
    kind: req.health?.kind ?? 'http',
    path: req.health?.path ?? D.HEALTH_PATH,
    intervalMs: req.health?.intervalMs ?? D.HEALTH_INTERVAL_MS,
    timeoutMs: req.health?.timeoutMs ?? D.HEALTH_TIMEOUT_MS,
    healthyThreshold: req.health?.healthyThreshold ?? D.HEALTH_HEALTHY_THRESHOLD,
    unhealthyThreshold: req.health?.unhealthyThreshold ?? D.HEALTH_UNHEALTHY_THRESHOLD,
    startPeriodMs: req.health?.startPeriodMs ?? D.HEALTH_START_PERIOD_MS,
    deadlineMs: req.health?.deadlineMs ?? D.HEALTH_DEADLINE_MS,
  };
  if (!health.path.startsWith('/')) problems.push(`health path "${health.path}" must start with /`);
  for (const k of ['intervalMs', 'timeoutMs', 'deadlineMs'] as const) if (!(health[k] > 0)) problems.push(`health ${k} ${health[k]} must be positive`);
  if (!(Number.isInteger(health.healthyThreshold) && health.healthyThreshold >= 1)) problems.push(`health healthyThreshold ${health.healthyThreshold} must be a whole number >= 1`);
  const r: Release = {
    app: req.app,
    release: req.release,
    image: req.image,
    pull: req.pull,
    git: req.git,
    sealedSecrets: req.sealedSecrets,
    command: req.command ?? [],
    env: req.env ?? {},
    port: req.port ?? D.CONTAINER_PORT,
    health,
    cpus: req.cpus,
    memoryMb: req.memoryMb,
    stopGraceMs: req.stopGraceMs ?? D.STOP_GRACE_MS,
    drainMs: req.drainMs ?? D.DRAIN_MS,
    volumes: req.volumes ?? [],
    imageDigest: req.imageDigest || undefined,
    keepReleases: req.keepReleases ?? D.KEEP_RELEASES,
    restart: { ...RESTART_DEFAULTS, ...Object.fromEntries(Object.entries(req.restart ?? {}).filter(([, v]) => v !== undefined)) },
    liveness: req.liveness,
  };
  problems.push(...restartPolicyProblems(r.restart));
  if (r.liveness) problems.push(...livenessProblems(r.liveness));
  if (!Number.isInteger(r.port) || r.port < 1 || r.port > 65_535) problems.push(`port ${r.port} is not a TCP port`);
  for (const k of ['stopGraceMs', 'drainMs'] as const) if (!(r[k] >= 0)) problems.push(`${k} ${r[k]} must be >= 0`);
  if (problems.length) throw new DeployRefusedError(`deploy of ${req.app ?? '?'} ${req.release ?? '?'} refused: ${problems.join('; ')}`);
  return r;
}
