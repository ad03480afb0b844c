// Loads and validates config.json (shape: proto/agent-config.ts) and the TLS files it points at.
import { createPublicKey, type KeyObject } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { dirname, isAbsolute, join, resolve } from 'node:path';
import { AGENT_TLS_FILES, type AgentConfig, type AgentNatsConfig, type ManagedJob } from '../proto/agent-config';
import { NODE_SECRETS_KEY_BYTES } from '../proto/node-seal';
import { agentPublicKey, checkUserPublicKey } from './events/nats-config';

const KNOWN_JOBS: readonly ManagedJob[] = ['podman'];
const LOG_LEVELS = ['trace', 'debug', 'info', 'warn', 'error', 'fatal'] as const;
const MAX_PORT = 65_535;
const PATH_FIELDS = ['tlsDir', 'stateDir', 'runDir', 'logDir', 'podmanSocket'] as const;

export class AgentConfigError extends Error {
  constructor(
    readonly configPath: string,
    readonly problems: string[],
  ) {
    super(`${configPath} is not a valid agent config:\n  ${problems.join('\n  ')}`);
    this.name = 'AgentConfigError';
  }
}

export function loadAgentConfig(configPath: string): AgentConfig {
  const absolute = resolve(configPath);
  let raw: unknown;
  try {
    raw = JSON.parse(readFileSync(absolute, 'utf8'));
  } catch (err) {
    throw new AgentConfigError(absolute, [`cannot be read as JSON: ${(err as Error).message}`]);
  }
  return validateAgentConfig(raw, absolute);
}

// Checks every field and reports all problems at once; relative paths are taken from the
// config file's folder.
export function validateAgentConfig(raw: unknown, configPath: string): AgentConfig {
  const problems: string[] = [];
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) throw new AgentConfigError(configPath, ['must be a JSON object']);
  const c = raw as Record<string, unknown>;
  const str = (key: string) => {
    if (typeof c[key] !== 'string' || c[key] === '') problems.push(`${key} must be a non-empty string`);
    return String(c[key] ?? '');
  };

  const nodeId = str('nodeId');
  const listenHost = str('listenHost');
  const listenPort = c.listenPort;
  if (!Number.isInteger(listenPort) || (listenPort as number) < 1 || (listenPort as number) > MAX_PORT) {
    problems.push(`listenPort must be an integer from 1 to ${MAX_PORT}`);
  }
  const base = dirname(configPath);
  const paths = Object.fromEntries(PATH_FIELDS.map((k) => [k, absoluteFrom(base, str(k))])) as Record<(typeof PATH_FIELDS)[number], string>;
  const manageJobs = c.manageJobs ?? [];
  if (!Array.isArray(manageJobs) || manageJobs.some((j) => !KNOWN_JOBS.includes(j as ManagedJob))) {
    problems.push(`manageJobs must be a list of ${KNOWN_JOBS.map((j) => `"${j}"`).join(', ')}`);
  }
  if (c.logLevel !== undefined && !LOG_LEVELS.includes(c.logLevel as (typeof LOG_LEVELS)[number])) {
    problems.push(`logLevel must be one of ${LOG_LEVELS.join(', ')}`);
  }
  if (c.ingressHttpListen !== undefined && !validListen(c.ingressHttpListen)) {
    problems.push('ingressHttpListen must be "host:port" or ":port" (e.g. ":80", "127.0.0.1:8080")');
  }
  if (c.ingressHttpsListen !== undefined && c.ingressHttpsListen !== '' && !validListen(c.ingressHttpsListen)) {
    problems.push('ingressHttpsListen must be "host:port", ":port" (e.g. ":443") or "" for no HTTPS');
  }
  if (c.caddyBinary !== undefined && (typeof c.caddyBinary !== 'string' || c.caddyBinary.trim() === '')) {
    problems.push('caddyBinary must be a non-empty string (a name in PATH or an absolute path)');
  }
  if (c.secretsKey !== undefined && (typeof c.secretsKey !== 'string' || Buffer.from(c.secretsKey, 'base64').length !== NODE_SECRETS_KEY_BYTES)) {
    problems.push(`secretsKey must be ${NODE_SECRETS_KEY_BYTES} bytes of base64 (onboarding writes it; re-run \`podploy node add\` to restore it)`);
  }
  const nats = c.nats === undefined ? undefined : validateNats(c.nats, problems, base);
  if (problems.length > 0) throw new AgentConfigError(configPath, problems);

  return {
    nodeId,
    listenHost,
    listenPort: listenPort as number,
    ...paths,
    manageJobs: manageJobs as ManagedJob[],
    ...(c.logLevel ? { logLevel: c.logLevel as AgentConfig['logLevel'] } : {}),
    ...(c.ingressHttpListen !== undefined ? { ingressHttpListen: c.ingressHttpListen as string } : {}),
    ...(c.ingressHttpsListen !== undefined ? { ingressHttpsListen: c.ingressHttpsListen as string } : {}),
    ...(c.caddyBinary !== undefined ? { caddyBinary: absoluteOrName(base, c.caddyBinary as string) } : {}),
    ...(c.secretsKey !== undefined ? { secretsKey: c.secretsKey as string } : {}),
    ...(nats ? { nats } : {}),
  };
}

// The `nats` section (AgentNatsConfig); problems are added to `problems`.
function validateNats(raw: unknown, problems: string[], base: string): AgentNatsConfig | undefined {
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) {
    problems.push('nats must be an object with agentSeed and controlPlaneNkey (onboarding writes it; re-run `podploy node add` to restore it)');
    return undefined;
  }
  const n = raw as Record<string, unknown>;
  const before = problems.length;
  const check = (fn: () => unknown) => {
    try {
      fn();
    } catch (err) {
      problems.push((err as Error).message);
    }
  };
  if (typeof n.agentSeed !== 'string') problems.push('nats.agentSeed must be the agent\'s nkey seed (SU...); re-run onboarding for this node to rewrite it');
  else check(() => agentPublicKey(n.agentSeed as string));
  if (typeof n.controlPlaneNkey !== 'string') problems.push('nats.controlPlaneNkey must be the control plane\'s nkey public key (U...); re-run onboarding for this node to rewrite it');
  else check(() => checkUserPublicKey(n.controlPlaneNkey as string, 'nats.controlPlaneNkey'));
  if (n.port !== undefined && (!Number.isInteger(n.port) || (n.port as number) < 1 || (n.port as number) > MAX_PORT)) problems.push(`nats.port must be an integer from 1 to ${MAX_PORT}`);
  if (n.binary !== undefined && (typeof n.binary !== 'string' || n.binary.trim() === '')) problems.push('nats.binary must be a non-empty string (a name in PATH or an absolute path)');
  for (const key of ['eventsMaxMsgs', 'eventsMaxBytes'] as const) {
    if (n[key] !== undefined && (!Number.isSafeInteger(n[key]) || (n[key] as number) < 1)) problems.push(`nats.${key} must be a positive integer`);
  }
  if (problems.length > before) return undefined;
  return {
    agentSeed: n.agentSeed as string,
    controlPlaneNkey: n.controlPlaneNkey as string,
    ...(n.port !== undefined ? { port: n.port as number } : {}),
    ...(n.binary !== undefined ? { binary: absoluteOrName(base, n.binary as string) } : {}),
    ...(n.eventsMaxMsgs !== undefined ? { eventsMaxMsgs: n.eventsMaxMsgs as number } : {}),
    ...(n.eventsMaxBytes !== undefined ? { eventsMaxBytes: n.eventsMaxBytes as number } : {}),
  };
}

// Caddy's listen forms the agent accepts: ":port", "host:port", "[v6]:port".
function validListen(value: unknown): boolean {
  if (typeof value !== 'string') return false;
  const m = /^(\[[0-9a-fA-F:.]+\]|[A-Za-z0-9.-]*):(\d{1,5})$/.exec(value);
  if (!m) return false;
  const port = Number(m[2]);
  return port >= 1 && port <= MAX_PORT;
}

// A bare name ("caddy") is looked up in PATH; a path with a slash is taken from the config folder.
function absoluteOrName(base: string, value: string): string {
  return value.includes('/') ? absoluteFrom(base, value) : value;
}

function absoluteFrom(base: string, path: string): string {
  return path === '' || isAbsolute(path) ? path : join(base, path);
}

export interface AgentTls {
  caPem: Buffer;
  certPem: Buffer;
  keyPem: Buffer;
  // The control plane's Ed25519 command-signing key.
  commandKey: KeyObject;
}

export function loadAgentTls(config: AgentConfig): AgentTls {
  const read = (name: string) => {
    const path = join(config.tlsDir, name);
    try {
      return readFileSync(path);
    } catch (err) {
      throw new Error(`cannot read ${path}: ${(err as Error).message}; re-run onboarding for node ${config.nodeId} to reinstall it`);
    }
  };
  const signingPem = read(AGENT_TLS_FILES.signingKey);
  const commandKey = createPublicKey(signingPem);
  if (commandKey.asymmetricKeyType !== 'ed25519') {
    throw new Error(`${join(config.tlsDir, AGENT_TLS_FILES.signingKey)} holds a ${commandKey.asymmetricKeyType} key; an Ed25519 public key is required`);
  }
  return { caPem: read(AGENT_TLS_FILES.ca), certPem: read(AGENT_TLS_FILES.cert), keyPem: read(AGENT_TLS_FILES.key), commandKey };
}
