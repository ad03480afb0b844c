// The node's ingress, owned by the agent process: Caddy as a child (caddy-process.ts), each
// app's two stable slots with their slot gates, and the one Caddy config built from all apps.
//
// - Every app gets an index on first sight (persisted in the state dir, never reused while the
//   app exists), hence its slot IPs (slots.ts).
// - At agent start every known app's gates start, the live slot's gate open (from the
//   Deployer's AppStateStore), the other closed; Caddy starts when at least one app exists
//   (a node without apps does not hold ports 80/443).
// - Caddy's config changes only in ensureApp, when an app or its domains are new, and in
//   setTlsSettings, when the control plane's TLS settings change; never while a deploy runs (a
//   config change resets requests in flight; see ENVIRONMENT.md): both then refuse with
//   IngressBusyError. After every Caddy (re)start the config is re-applied with loadIfChanged.
import { writeFileSync, mkdirSync, renameSync } from 'node:fs';
import { join } from 'node:path';
import { DEFAULT_CADDY_BINARY, DEFAULT_INGRESS_HTTP_LISTEN, DEFAULT_INGRESS_HTTPS_LISTEN, AGENT_PID_FILES, type AgentConfig } from '../../proto/agent-config';
import type { AppIngress, GateRegistry } from '../deploy/deploy-app';
import type { LiveRelease } from '../deploy/app-state';
import type { Logger } from '../logger';
import { readJson, writeJsonAtomic, STATE_FILE_MODE } from '../state/atomic-file';
import type { BackoffPolicy } from '../supervisor/restart-backoff';
import { adminListenValue, loadIfChanged } from './caddy-admin';
import type { IngressTlsSettings } from '../../proto/ingress-tls';
import { buildCaddyConfig, type CaddyConfig } from './caddy-config';
import { CaddyProcess } from './caddy-process';
import { SlotGate } from './slot-gate';
import { TlsSettingsStore } from './tls-settings-store';
import { appSlots, DEFAULT_SLOT_APP_PORT, DEFAULT_SLOT_GATE_PORT, MAX_APP_INDEX, SLOT_NAMES, type SlotName } from './slots';

// Index 0 would be 127.0.1.1/.2, and 127.0.1.1 is Debian's /etc/hosts address for the machine's
// own name: apps start at index 1.
export const FIRST_APP_INDEX = 1;
export const INGRESS_APPS_FILE = 'ingress-apps.json';
export const CADDY_CONFIG_FILE = 'caddy.json';
export const CADDY_ADMIN_SOCKET = 'caddy-admin.sock';
export const CADDY_LOG_FILE = 'caddy.log';
// Caddy's certificates and autosave, inside the agent's state dir.
export const CADDY_DATA_DIR = 'caddy';

export interface IngressApp {
  index: number;
  domains: string[];
}

export interface IngressRuntimeOptions {
  stateDir: string;
  runDir: string;
  logDir: string;
  httpListen?: string;
  // Where Caddy serves HTTPS (e.g. ':443'); absent: plain HTTP only, no certificates.
  httpsListen?: string;
  caddyBinary?: string;
  // The live slot of an app, as the Deployer recorded it (its AppStateStore).
  live: (app: string) => LiveRelease | undefined;
  // Apps with a deploy running (the Deployer's inProgressApps).
  deploying: () => string[];
  log: Logger;
  appPort?: number;
  gatePort?: number;
  caddyBackoff?: BackoffPolicy;
  // How long ensureApp waits for Caddy to come up (CADDY_READY_DEADLINE_MS).
  caddyReadyDeadlineMs?: number;
}

// Where HTTPS is served for an agent config (see AgentConfig.ingressHttpsListen); undefined: none.
export function httpsListenOf(c: Pick<AgentConfig, 'ingressHttpListen' | 'ingressHttpsListen'>): string | undefined {
  if (c.ingressHttpsListen !== undefined) return c.ingressHttpsListen || undefined;
  return c.ingressHttpListen === undefined ? DEFAULT_INGRESS_HTTPS_LISTEN : undefined;
}

// Nothing changed: Caddy's config would have to change while a deploy runs.
export class IngressBusyError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'IngressBusyError';
  }
}

export interface TlsSettingsOutcome {
  changed: boolean;
  // Caddy runs the new config now (false: no app yet, or HTTPS is off; it applies at start).
  loaded: boolean;
}

export class IngressRuntime implements GateRegistry {
  readonly caddy: CaddyProcess;
  readonly tls: TlsSettingsStore;
  private readonly appsFile: string;
  private readonly configFile: string;
  private readonly adminSocket: string;
  private readonly httpListen: string;
  private readonly appPort: number;
  private readonly gatePort: number;
  private apps: Record<string, IngressApp>;
  private readonly ingress = new Map<string, AppIngress>();
  // ensureApp calls run one at a time.
  private queue: Promise<unknown> = Promise.resolve();

  constructor(private readonly opts: IngressRuntimeOptions) {
    this.appsFile = join(opts.stateDir, INGRESS_APPS_FILE);
    this.configFile = join(opts.runDir, CADDY_CONFIG_FILE);
    this.adminSocket = join(opts.runDir, CADDY_ADMIN_SOCKET);
    this.httpListen = opts.httpListen ?? DEFAULT_INGRESS_HTTP_LISTEN;
    this.appPort = opts.appPort ?? DEFAULT_SLOT_APP_PORT;
    this.gatePort = opts.gatePort ?? DEFAULT_SLOT_GATE_PORT;
    this.apps = readJson<Record<string, IngressApp>>(this.appsFile, {});
    this.tls = new TlsSettingsStore(opts.stateDir);
    this.caddy = new CaddyProcess({
      binary: opts.caddyBinary ?? DEFAULT_CADDY_BINARY,
      configFile: this.configFile,
      adminSocket: this.adminSocket,
      pidFile: join(opts.runDir, AGENT_PID_FILES.caddy),
      dataDir: join(opts.stateDir, CADDY_DATA_DIR),
      logFile: join(opts.logDir, CADDY_LOG_FILE),
      log: opts.log,
      backoff: opts.caddyBackoff,
      onReady: async (admin) => {
        const loaded = await loadIfChanged(admin, this.config());
        opts.log.info({ event: 'ingress_config_applied', loaded, apps: Object.keys(this.apps).length }, loaded ? 'ingress config loaded into Caddy' : 'Caddy already runs the ingress config');
      },
    });
  }

  // Starts the gates of every known app and, when there is one, Caddy. Never throws for one
  // app's problem: that app is logged and left without ingress (its deploys are refused).
  async start(): Promise<void> {
    for (const [app, entry] of Object.entries(this.apps)) {
      try {
        await this.startGates(app, entry.index);
      } catch (err) {
        this.opts.log.error({ event: 'ingress_app_failed', app, err: (err as Error).message }, `ingress for app ${app} could not start`);
      }
    }
    if (Object.keys(this.apps).length > 0) await this.startCaddy();
  }

  lookup(app: string): AppIngress | undefined {
    return this.ingress.get(app);
  }

  known(): Record<string, IngressApp> {
    return structuredClone(this.apps);
  }

  // Makes sure `app` has its slots, gates and route for exactly `domains`, and that Caddy runs
  // that config. Throws IngressBusyError (a config change while a deploy runs) or Error (a
  // domain taken by another app, an invalid name, Caddy not coming up) with nothing changed.
  ensureApp(app: string, domains: string[]): Promise<AppIngress> {
    const next = this.queue.then(() => this.ensureAppNow(app, domains));
    this.queue = next.catch(() => undefined);
    return next;
  }

  // Drops `app`'s route, gates and slot index; Caddy then runs the config without it. Throws
  // IngressBusyError (nothing changed) while a deploy runs. Returns false for an unknown app.
  removeApp(app: string): Promise<boolean> {
    const next = this.queue.then(() => this.removeAppNow(app));
    this.queue = next.catch(() => undefined);
    return next;
  }

  // Stores the control plane's TLS settings and, when Caddy runs, loads the config they make.
  // Refused (IngressBusyError, nothing changed) while a deploy runs and the config would change.
  setTlsSettings(settings: IngressTlsSettings): Promise<TlsSettingsOutcome> {
    const next = this.queue.then(() => this.setTlsSettingsNow(settings));
    this.queue = next.catch(() => undefined);
    return next;
  }

  async stop(): Promise<void> {
    await this.caddy.stop();
    await Promise.all([...this.ingress.values()].flatMap((i) => SLOT_NAMES.map((s) => i.gates[s].stop())));
    this.ingress.clear();
  }

  private async ensureAppNow(app: string, rawDomains: string[]): Promise<AppIngress> {
    const domains = normaliseDomains(rawDomains);
    if (domains.length === 0) throw new Error(`app ${app}: no domain to route; give the app at least one domain`);
    const existing = this.apps[app];
    const changed = !existing || !sameList(existing.domains, domains);
    if (changed) {
      const busy = this.opts.deploying();
      if (busy.length > 0) {
        throw new IngressBusyError(
          `app ${app}: Caddy's configuration must change to ${existing ? 'update its domains' : 'add it'}, and a deploy of ${busy.join(', ')} is running ` +
            '(a config change would reset its requests in flight); nothing was changed: try again when that deploy has finished',
        );
      }
      const index = existing?.index ?? this.freeIndex();
      const nextApps = { ...this.apps, [app]: { index, domains } };
      // Validates names and domains (a domain claimed by two apps) before anything changes.
      const config = this.configFor(nextApps);
      if (!this.ingress.has(app)) await this.startGates(app, index);
      writeJsonAtomic(this.appsFile, nextApps);
      this.apps = nextApps;
      this.writeConfigFile(config);
      this.opts.log.info({ event: existing ? 'ingress_app_updated' : 'ingress_app_added', app, index, domains }, `ingress for app ${app}: ${domains.join(', ')}`);
    } else if (!this.ingress.has(app)) {
      await this.startGates(app, existing.index);
    }
    await this.startCaddy();
    await this.caddy.waitReady(this.opts.caddyReadyDeadlineMs);
    // A no-op when Caddy started from (or its onReady loaded) this config already.
    if (changed) await loadIfChanged(this.caddy.admin, this.config());
    return this.ingress.get(app) as AppIngress;
  }

  private async removeAppNow(app: string): Promise<boolean> {
    const gates = this.ingress.get(app);
    if (!this.apps[app]) {
      if (gates) await Promise.all(SLOT_NAMES.map((s) => gates.gates[s].stop()));
      this.ingress.delete(app);
      return false;
    }
    const busy = this.opts.deploying();
    if (busy.length > 0) {
      throw new IngressBusyError(
        `app ${app}: Caddy's configuration must change to remove it, and a deploy of ${busy.join(', ')} is running ` +
          '(a config change would reset its requests in flight); nothing was changed: try again when that deploy has finished',
      );
    }
    const { [app]: gone, ...nextApps } = this.apps;
    writeJsonAtomic(this.appsFile, nextApps);
    this.apps = nextApps;
    this.writeConfigFile(this.config());
    if (gates) await Promise.all(SLOT_NAMES.map((s) => gates.gates[s].stop()));
    this.ingress.delete(app);
    this.opts.log.info({ event: 'ingress_app_removed', app, index: gone?.index, domains: gone?.domains }, `ingress for app ${app} removed`);
    if (this.caddy.running) {
      await this.caddy.waitReady(this.opts.caddyReadyDeadlineMs);
      await loadIfChanged(this.caddy.admin, this.config());
    }
    return true;
  }

  private async setTlsSettingsNow(settings: IngressTlsSettings): Promise<TlsSettingsOutcome> {
    if (this.tls.same(settings)) return { changed: false, loaded: false };
    const affectsCaddy = this.opts.httpsListen !== undefined && Object.keys(this.apps).length > 0;
    const busy = affectsCaddy ? this.opts.deploying() : [];
    if (busy.length > 0) {
      throw new IngressBusyError(
        `Caddy's configuration must change for the new TLS settings, and a deploy of ${busy.join(', ')} is running ` +
          '(a config change would reset its requests in flight); nothing was changed: try again when that deploy has finished',
      );
    }
    this.tls.save(settings);
    this.opts.log.info({ event: 'ingress_tls_set', acmeDirectory: settings.acmeDirectory, acmeEmail: settings.acmeEmail, extraRoot: settings.acmeCaRootPem !== '', httpRedirect: settings.httpRedirect }, 'TLS settings stored');
    if (!affectsCaddy) return { changed: true, loaded: false };
    this.writeConfigFile(this.config());
    if (!this.caddy.running) return { changed: true, loaded: false };
    await this.caddy.waitReady(this.opts.caddyReadyDeadlineMs);
    return { changed: true, loaded: await loadIfChanged(this.caddy.admin, this.config()) };
  }

  private async startCaddy(): Promise<void> {
    if (this.caddy.running) return;
    this.tls.ensureRootFile();
    this.writeConfigFile(this.config());
    await this.caddy.start();
  }

  private async startGates(app: string, index: number): Promise<void> {
    const slots = appSlots(index, this.appPort);
    const liveSlot = this.opts.live(app)?.slot;
    const started: Partial<Record<SlotName, SlotGate>> = {};
    try {
      for (const s of SLOT_NAMES) started[s] = await SlotGate.start({ ip: slots[s].ip, port: this.gatePort, open: liveSlot === s, log: this.opts.log });
    } catch (err) {
      await Promise.all(Object.values(started).map((g) => g.stop()));
      throw new Error(`app ${app}: ${(err as Error).message}`);
    }
    this.ingress.set(app, { slots, gates: started as Record<SlotName, SlotGate> });
  }

  private freeIndex(): number {
    const used = new Set(Object.values(this.apps).map((a) => a.index));
    for (let i = FIRST_APP_INDEX; i <= MAX_APP_INDEX; i++) if (!used.has(i)) return i;
    throw new Error(`this node has no free ingress slots (${MAX_APP_INDEX - FIRST_APP_INDEX + 1} apps at most)`);
  }

  private config(): CaddyConfig {
    return this.configFor(this.apps);
  }

  private configFor(apps: Record<string, IngressApp>): CaddyConfig {
    return buildCaddyConfig({
      adminListen: adminListenValue({ socketPath: this.adminSocket }),
      listen: [this.httpListen],
      routes: Object.entries(apps).map(([app, a]) => ({ app, domains: a.domains, slots: appSlots(a.index, this.appPort), gatePort: this.gatePort })),
      tls: this.opts.httpsListen === undefined ? undefined : { httpsListen: this.opts.httpsListen, ...this.tlsSettings() },
    });
  }

  private tlsSettings() {
    const s = this.tls.get();
    return { acmeDirectory: s.acmeDirectory, acmeEmail: s.acmeEmail, acmeCaRootFile: this.tls.rootPath(), httpRedirect: s.httpRedirect };
  }

  // The file Caddy starts from, so a restarted Caddy serves every route at once.
  private writeConfigFile(config: CaddyConfig): void {
    mkdirSync(this.opts.runDir, { recursive: true });
    const tmp = `${this.configFile}.${process.pid}.tmp`;
    writeFileSync(tmp, JSON.stringify(config), { mode: STATE_FILE_MODE });
    renameSync(tmp, this.configFile);
  }
}

function normaliseDomains(domains: string[]): string[] {
  return [...new Set(domains.map((d) => d.trim().toLowerCase()).filter((d) => d !== ''))].sort();
}

function sameList(a: string[], b: string[]): boolean {
  return a.length === b.length && a.every((x, i) => x === b[i]);
}
