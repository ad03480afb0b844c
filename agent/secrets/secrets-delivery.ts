// The agent's SecretsHook: a release's sealed secrets reach its container without plain text on
// the node's disk, in the agent's log or in the container spec (so not in `podman inspect`).
//   - The sealed bytes are opened only here, right before the container is created, and written
//     to a tmpfs folder (TmpfsSecrets) bind-mounted read-only at /run/secrets.
//   - When the image has /bin/sh, the entrypoint is wrapped so the process also sees each secret
//     as an environment variable (entrypoint-wrapper.ts); without a shell: files only.
//   - The sealed bytes are kept (still sealed) in the state folder, so the tmpfs folder can be
//     written again when /dev/shm was emptied (a reboot) while the container still exists.
//   - forget() removes both when the container is removed.
import { existsSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { AgentConfig } from '../../proto/agent-config';
import type { SecretsHook } from '../deploy/deploy-app';
import type { Logger } from '../logger';
import { withContext, type PodmanClient } from '../podman/client';
import { createContainer, findContainer, removeContainer, type ContainerSpec } from '../podman/containers';
import { SECRETS_MOUNT, WRAPPER_SHELL, wrapEntrypoint, type ImageProcess } from './entrypoint-wrapper';
import { openSealed } from './node-key';
import { TmpfsSecrets } from './tmpfs-secrets';

export const SEALED_SECRETS_FOLDER = 'secrets';
const SEALED_SUFFIX = '.sealed';
const PROBE_TIMEOUT_MS = 30_000;

export interface SecretsDeliveryDeps {
  config: Pick<AgentConfig, 'nodeId' | 'secretsKey' | 'stateDir'>;
  podman: PodmanClient;
  log?: Logger;
  tmpfs?: TmpfsSecrets;
}

export class SecretsDelivery {
  private readonly tmpfs: TmpfsSecrets;
  private readonly sealedDir: string;
  // Image id -> whether it has /bin/sh (ids are content hashes, so the answer never changes).
  private readonly shells = new Map<string, boolean>();
  // The start-up sweep (restoreWhenReady); a deploy's secrets wait for it, so the sweep never
  // takes a new container's folder for a leftover.
  private restoring: Promise<unknown> = Promise.resolve();

  constructor(private readonly deps: SecretsDeliveryDeps) {
    this.tmpfs = deps.tmpfs ?? new TmpfsSecrets();
    this.sealedDir = join(deps.config.stateDir, SEALED_SECRETS_FOLDER);
  }

  readonly hook: SecretsHook = async (ids, spec) => {
    if (!ids.sealedSecrets?.length) return spec;
    await this.restoring;
    const values = this.open(ids.sealedSecrets, `release ${ids.release} of ${ids.app}`);
    const names = Object.keys(values);
    if (!names.length) return spec;
    const dir = this.tmpfs.write(spec.name, values);
    for (const k of names) values[k] = '';
    mkdirSync(this.sealedDir, { recursive: true, mode: 0o700 });
    const sealedFile = this.sealedPath(spec.name);
    writeFileSync(`${sealedFile}.tmp`, ids.sealedSecrets, { mode: 0o600 });
    renameSync(`${sealedFile}.tmp`, sealedFile);
    const out: ContainerSpec = { ...spec, binds: [...(spec.binds ?? []), { source: dir, destination: SECRETS_MOUNT, readOnly: true }] };
    const image = await this.imageProcess(spec.image);
    const wrapped = (await this.hasShell(spec.image)) ? wrapEntrypoint(image, spec.command) : undefined;
    if (wrapped) Object.assign(out, wrapped);
    this.deps.log?.info(
      { event: 'secrets_mounted', app: ids.app, release: ids.release, container: spec.name, names, env: !!wrapped },
      `${names.length} secret(s) of ${ids.app} mounted at ${SECRETS_MOUNT}${wrapped ? ' and exported to the environment' : ' (files only: the image has no /bin/sh)'}`,
    );
    return out;
  };

  // The container is gone: its secrets go too.
  async forget(container: string): Promise<void> {
    this.tmpfs.remove(container);
    rmSync(this.sealedPath(container), { force: true });
  }

  // At agent start, in the background: restore() once Podman answers (its service may start
  // after the agent), so neither a slow Podman nor a failed sweep delays the agent.
  restoreWhenReady(podmanReady: () => Promise<void>): void {
    this.restoring = podmanReady()
      .then(() => this.restore())
      .catch((err) => this.deps.log?.error({ event: 'secrets_restore_failed', err: (err as Error).message }, 'could not check the secrets folders against the containers'));
  }

  // At agent start: writes the tmpfs folder again for every container that still exists and
  // whose folder is missing (/dev/shm was emptied); drops what belongs to removed containers.
  async restore(): Promise<{ restored: string[]; dropped: string[] }> {
    const restored: string[] = [];
    const dropped: string[] = [];
    const sealed = existsSync(this.sealedDir) ? readdirSync(this.sealedDir).filter((f) => f.endsWith(SEALED_SUFFIX)).map((f) => f.slice(0, -SEALED_SUFFIX.length)) : [];
    for (const container of new Set([...sealed, ...this.tmpfs.list()])) {
      const exists = (await findContainer(this.deps.podman, container)) !== undefined;
      if (!exists || !sealed.includes(container)) {
        await this.forget(container);
        dropped.push(container);
      } else if (!this.tmpfs.has(container)) {
        try {
          this.tmpfs.write(container, this.open(readFileSync(this.sealedPath(container)), `container ${container}`));
          restored.push(container);
        } catch (err) {
          // That container cannot start again until it is deployed again; the others can.
          this.deps.log?.error({ event: 'secrets_restore_failed', container, err: (err as Error).message }, `secrets of ${container} could not be restored`);
        }
      }
    }
    if (restored.length || dropped.length) this.deps.log?.info({ event: 'secrets_restored', restored, dropped }, 'secrets folders checked against the containers');
    return { restored, dropped };
  }

  private open(sealed: Uint8Array, what: string): Record<string, string> {
    let plain: Uint8Array;
    try {
      plain = openSealed(this.deps.config, sealed);
    } catch (err) {
      throw new Error(`cannot open the secrets of ${what}: ${(err as Error).message}`);
    }
    try {
      const parsed = JSON.parse(Buffer.from(plain).toString('utf8')) as unknown;
      if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed) || Object.values(parsed).some((v) => typeof v !== 'string')) {
        throw new Error('not an object of strings');
      }
      return parsed as Record<string, string>;
    } catch (err) {
      throw new Error(`the secrets of ${what} are not a JSON object of name -> value (${(err as Error).message.replace(/ at position.*/, '')})`);
    } finally {
      plain.fill(0);
    }
  }

  private sealedPath(container: string): string {
    this.tmpfs.dirFor(container); // validates the name
    return join(this.sealedDir, `${container}${SEALED_SUFFIX}`);
  }

  private async imageProcess(image: string): Promise<ImageProcess> {
    const raw = await withContext(
      `image ${image}: inspect for its entrypoint`,
      this.deps.podman.json<{ Config?: { Entrypoint?: string[] | null; Cmd?: string[] | null } }>(`/images/${encodeURIComponent(image)}/json`),
    );
    return { entrypoint: raw.Config?.Entrypoint ?? [], cmd: raw.Config?.Cmd ?? [] };
  }

  // Whether the image has /bin/sh: a created (never started) probe container is asked for the
  // file through Podman's archive API, then removed.
  private async hasShell(image: string): Promise<boolean> {
    const known = this.shells.get(image);
    if (known !== undefined) return known;
    const probe = `podploy-shell-probe-${process.pid}-${Date.now().toString(36)}`;
    await createContainer(this.deps.podman, { name: probe, image, command: [WRAPPER_SHELL], restartPolicy: 'no' });
    try {
      const res = await withContext(
        `image ${image}: looking for ${WRAPPER_SHELL}`,
        this.deps.podman.open(`/containers/${probe}/archive`, { query: { path: WRAPPER_SHELL }, acceptStatuses: [404], timeoutMs: PROBE_TIMEOUT_MS }),
      );
      res.destroy();
      const found = res.statusCode === 200;
      this.shells.set(image, found);
      return found;
    } finally {
      await removeContainer(this.deps.podman, probe, { force: true, ignoreMissing: true }).catch(() => undefined);
    }
  }
}
