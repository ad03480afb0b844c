// The Deploy RPC: a signed DeployApp in, a DeployEvent per step out, then one final event.
//
//   - The SignedCommand is verified exactly as Execute verifies it (same nonce store, same
//     rejection log line); a rejection ends the call with PERMISSION_DENIED.
//   - A verified command without deploy_app ends the call with INVALID_ARGUMENT.
//   - Everything after that is reported IN the stream: step events (final=false), then exactly
//     one final event (final=true) and the end of the stream. A deploy that was refused before
//     anything changed (app busy, invalid release, domain taken, Caddy config change while another
//     deploy runs, Caddy not up) is a final event with ok=false, state "refused", failed_step ""
//     and the reason; a deploy that failed at a step has state "failed" and failed_step = the
//     step's name; a deploy that succeeded has state "done", ok=true and the image digest.
// The deploy goes on when the caller goes away (it cannot be abandoned half-way safely).
import type {
  DeployApp,
  DeployEvent as WireDeployEvent,
  HealthSettings as WireHealth,
  LivenessProbe as WireLiveness,
  RestartPolicy as WireRestart,
  SignedCommand,
} from '../proto/gen/podploy/agent/v1/agent';
import { LIVENESS_DEFAULTS, type LivenessKind, type LivenessSettings, type RestartPolicySettings } from '../proto/lazarus-defaults';
import type { NodeEventSink } from '../proto/node-events';
import type { DeployEvent, DeployRequest, DeployResult, Deployer } from './deploy/deploy-app';
import { checkDeployRequest, DeployRefusedError } from './deploy/deploy-app';
import type { HealthSettings } from './deploy/health-wait';
import { DEFAULT_CONTAINERFILE, type RegistryAuth } from './podman/images';
import type { Logger } from './logger';

export interface DeployRuntime {
  ensureApp(app: string, domains: string[]): Promise<unknown>;
}

export interface DeployCallDeps {
  nodeId: string;
  // Opens what the control plane sealed for this node (registry credentials); absent: this
  // agent has no secrets key and refuses a deploy that carries sealed credentials.
  openSealed?: (sealed: Uint8Array) => Uint8Array;
  deployer: Deployer;
  ingress: DeployRuntime;
  log: Logger;
  // After a successful deploy: the signed command becomes the app's desired state (Lazarus).
  onDeployed?: (signed: SignedCommand, d: DeployApp) => void;
  // Every step that ended (done or failed) as a deploy.step event.
  events?: NodeEventSink;
}

// What AppSpec defaults to; proto3 sends "" for an unset string.
const DEFAULT_GIT_REF = 'main';

const HEALTH_KINDS: readonly HealthSettings['kind'][] = ['http', 'tcp'];

export const FINAL_STATE = { ok: 'done', failed: 'failed', refused: 'refused' } as const;

// proto3 has no "absent" for scalars: 0 and "" mean "the agent's default" (constants.ts).
export function deployRequestFrom(d: DeployApp, openSealed?: (sealed: Uint8Array) => Uint8Array): DeployRequest {
  const req: DeployRequest = { app: d.app, release: d.release, image: d.image };
  if (d.git?.url) req.git = { url: d.git.url, ref: d.git.ref || DEFAULT_GIT_REF, containerfile: d.git.containerfile || DEFAULT_CONTAINERFILE };
  // TLS verification is off only for a registry the operator logged in to with --insecure: the
  // credentials come with registry_tls_verify=false then. Without credentials, proto3's false is
  // just "unset", and Podman verifies.
  else if (d.sealedRegistryAuth?.length) req.pull = { auth: registryAuthFrom(d.sealedRegistryAuth, openSealed), tlsVerify: d.registryTlsVerify };
  // Opened by the secrets hook at container start, not here.
  if (d.sealedSecrets?.length) req.sealedSecrets = d.sealedSecrets;
  if (d.command.length) req.command = [...d.command];
  if (Object.keys(d.env).length) req.env = { ...d.env };
  if (d.port) req.port = d.port;
  const health = healthFrom(d.health);
  if (health) req.health = health;
  if (d.cpus > 0) req.cpus = d.cpus;
  if (d.memoryMb > 0) req.memoryMb = d.memoryMb;
  if (d.stopGraceMs) req.stopGraceMs = d.stopGraceMs;
  if (d.drainMs) req.drainMs = d.drainMs;
  if (d.volumes.length) req.volumes = d.volumes.map((v) => ({ name: v.name, path: v.path }));
  if (d.imageDigest) req.imageDigest = d.imageDigest;
  if (d.keepReleases) req.keepReleases = d.keepReleases;
  const restart = restartFrom(d.restart);
  if (restart) req.restart = restart;
  const liveness = livenessFrom(d.liveness);
  if (liveness) req.liveness = liveness;
  return req;
}

// The fields the control plane set; the Deployer fills the rest from RESTART_DEFAULTS and
// refuses what restartPolicyProblems finds.
export function restartFrom(w: WireRestart | undefined): Partial<RestartPolicySettings> | undefined {
  if (!w) return undefined;
  const out: Partial<RestartPolicySettings> = {};
  for (const k of ['initialBackoffMs', 'maxBackoffMs', 'jitter', 'resetAfterMs', 'crashLoopRestarts', 'crashLoopWindowMs'] as const) {
    if (w[k] !== undefined) out[k] = w[k];
  }
  return Object.keys(out).length ? out : undefined;
}

// Kind "" (or no probe): none. A complete probe otherwise, LIVENESS_DEFAULTS where a field was
// left out; an unknown kind is kept so livenessProblems names it.
export function livenessFrom(w: WireLiveness | undefined): LivenessSettings | undefined {
  if (!w?.kind) return undefined;
  const D = LIVENESS_DEFAULTS;
  return {
    kind: w.kind as LivenessKind,
    path: w.path || D.path,
    statusMin: w.statusMin || D.statusMin,
    statusMax: w.statusMax || D.statusMax,
    command: [...w.command],
    intervalMs: w.intervalMs ?? D.intervalMs,
    timeoutMs: w.timeoutMs ?? D.timeoutMs,
    failureThreshold: w.failureThreshold ?? D.failureThreshold,
    initialDelayMs: w.initialDelayMs ?? D.initialDelayMs,
  };
}

// The sealed JSON {username, password[, serveraddress]}; the plain text lives only in memory.
function registryAuthFrom(sealed: Uint8Array, openSealed?: (sealed: Uint8Array) => Uint8Array): RegistryAuth {
  if (!openSealed) throw new DeployRefusedError('the deploy carries registry credentials, but this agent has no secrets key to open them; run `podploy node add` for this node again');
  let auth: Partial<RegistryAuth>;
  try {
    auth = JSON.parse(Buffer.from(openSealed(sealed)).toString('utf8')) as Partial<RegistryAuth>;
  } catch (err) {
    throw new DeployRefusedError(`the registry credentials could not be opened: ${(err as Error).message}`);
  }
  if (typeof auth.username !== 'string' || typeof auth.password !== 'string') throw new DeployRefusedError('the registry credentials are not {username, password}');
  return { username: auth.username, password: auth.password, ...(typeof auth.serveraddress === 'string' ? { serveraddress: auth.serveraddress } : {}) };
}

function healthFrom(h: WireHealth | undefined): Partial<HealthSettings> | undefined {
  if (!h) return undefined;
  const out: Partial<HealthSettings> = {};
  if (h.kind) {
    if (!HEALTH_KINDS.includes(h.kind as HealthSettings['kind'])) throw new DeployRefusedError(`health check kind "${h.kind}" is unknown: use ${HEALTH_KINDS.join(' or ')}`);
    out.kind = h.kind as HealthSettings['kind'];
  }
  if (h.path) out.path = h.path;
  if (h.intervalMs) out.intervalMs = h.intervalMs;
  if (h.timeoutMs) out.timeoutMs = h.timeoutMs;
  if (h.healthyThreshold) out.healthyThreshold = h.healthyThreshold;
  if (h.unhealthyThreshold) out.unhealthyThreshold = h.unhealthyThreshold;
  if (h.startPeriodMs) out.startPeriodMs = h.startPeriodMs;
  if (h.deadlineMs) out.deadlineMs = h.deadlineMs;
  return Object.keys(out).length ? out : undefined;
}

const EMPTY: WireDeployEvent = { step: 0, name: '', state: '', message: '', durationMs: 0, final: false, ok: false, imageDigest: '', failedStep: '', reason: '' };

export function stepEvent(e: DeployEvent): WireDeployEvent {
  return { ...EMPTY, step: e.step, name: e.name, state: e.state, message: e.message, durationMs: e.durationMs };
}

export function finalEvent(r: DeployResult): WireDeployEvent {
  if (r.ok) {
    return {
      ...EMPTY,
      final: true,
      ok: true,
      state: FINAL_STATE.ok,
      durationMs: r.totalMs,
      imageDigest: r.image?.digest ?? '',
      message: `release ${r.release} of ${r.app} serves from slot ${r.slot} after ${r.totalMs} ms`,
    };
  }
  const f = r.failedStep;
  return {
    ...EMPTY,
    final: true,
    ok: false,
    state: FINAL_STATE.failed,
    step: f?.step ?? 0,
    name: f?.name ?? '',
    failedStep: f?.name ?? '',
    reason: f?.reason ?? 'the deploy failed',
    durationMs: r.totalMs,
    imageDigest: r.image?.digest ?? '',
    message: `release ${r.release} of ${r.app} failed at step ${f?.step} (${f?.name})`,
  };
}

export function refusedEvent(reason: string): WireDeployEvent {
  return { ...EMPTY, final: true, ok: false, state: FINAL_STATE.refused, reason, message: 'the deploy was refused; nothing was changed' };
}

// Runs one verified DeployApp to its final event. Never throws: every outcome is an event.
export async function runDeploy(
  d: DeployApp,
  meta: { actor: string; nonce: string; signed?: SignedCommand },
  deps: DeployCallDeps,
  write: (e: WireDeployEvent) => void,
): Promise<WireDeployEvent> {
  const { log, deployer } = deps;
  const ids = { app: d.app, release: d.release, image: d.image, actor: meta.actor, nonce: meta.nonce };
  const t0 = Date.now();
  log.info({ event: 'deploy_started', ...ids, domains: d.domains }, `deploy of ${d.app} release ${d.release} started`);
  let final: WireDeployEvent;
  try {
    const busy = deployer.inProgress(d.app);
    if (busy) {
      throw new DeployRefusedError(
        `app ${d.app}: a deploy of release ${busy.release} is in progress (started ${busy.startedAt.toISOString()}, at step "${busy.step}"); ` +
          `release ${d.release} was not deployed: wait for that deploy to finish, then try again`,
      );
    }
    const request = deployRequestFrom(d, deps.openSealed);
    checkDeployRequest(request);
    await deps.ingress.ensureApp(d.app, d.domains);
    const result = await deployer.deploy(request, (e) => {
      write(stepEvent(e));
      if (e.state !== 'running') emitStep(deps, e);
    });
    final = finalEvent(result);
    // The release serves now (also when a step after the switch failed): it is what Lazarus keeps.
    if (meta.signed && deployer.state.live(d.app)?.release === d.release) {
      try {
        deps.onDeployed?.(meta.signed, d);
      } catch (err) {
        log.error({ event: 'desired_state_failed', ...ids, err: (err as Error).message }, `the desired state of ${d.app} could not be recorded`);
      }
    }
  } catch (err) {
    const reason = `node ${deps.nodeId}: ${(err as Error).message}`;
    final = refusedEvent(reason);
    if (!(err instanceof DeployRefusedError)) log.warn({ event: 'deploy_refused', ...ids, err: (err as Error).message }, 'deploy refused before it started');
  }
  log.info(
    { event: 'deploy_finished', ...ids, ok: final.ok, state: final.state, failedStep: final.failedStep || undefined, reason: final.reason || undefined, digest: final.imageDigest || undefined, ms: Date.now() - t0 },
    `deploy of ${d.app} release ${d.release}: ${final.ok ? 'ok' : final.state}`,
  );
  write(final);
  return final;
}

function emitStep(deps: DeployCallDeps, e: DeployEvent): void {
  deps.events?.emit({
    kind: 'deploy.step',
    severity: e.state === 'failed' ? 'error' : 'info',
    app: e.app,
    release: e.release,
    message: `deploy of ${e.app} release ${e.release}: step ${e.step} (${e.name}) ${e.state}: ${e.message}`,
    data: { step: e.step, name: e.name, state: e.state, durationMs: e.durationMs },
  });
}
