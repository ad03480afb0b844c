// The node's nats-server as a child of the agent: `nats-server -c FILE` with the config the agent
// writes (nats-config.ts), restarted with back-off when it dies. Ready means its client port
// answers with the server's INFO line.
import { chmodSync, mkdirSync, renameSync, writeFileSync } from 'node:fs';
import { connect as tcpConnect } from 'node:net';
import { dirname, join } from 'node:path';
import { AGENT_PID_FILES, DEFAULT_NATS_BINARY, type AgentConfig, type AgentNatsConfig } from '../../proto/agent-config';
import type { Logger } from '../logger';
import { resolveExecutable, SupervisedChild } from '../supervisor/child-process';
import type { BackoffPolicy } from '../supervisor/restart-backoff';
import { agentPublicKey, checkUserPublicKey, natsPortOf, natsServerConfig, streamLimitsOf } from './nats-config';

// Daemons install to sbin, which an ordinary user's PATH may lack.
export const NATS_FALLBACK_DIRS = ['/usr/sbin', '/usr/local/sbin', '/sbin', '/usr/local/bin', '/usr/bin'];
export const NATS_DIR = 'nats';
export const NATS_CONFIG_FILE = 'nats-server.conf';
export const NATS_LOG_FILE = 'nats-server.log';
export const NATS_READY_POLL_MS = 50;
export const NATS_READY_DEADLINE_MS = 15_000;
// SIGTERM (nats-server then flushes its file store), then SIGKILL after this.
export const NATS_STOP_TIMEOUT_MS = 5_000;
const INFO_TIMEOUT_MS = 1_000;

export interface NatsProcessOptions {
  // A name looked up in PATH (then NATS_FALLBACK_DIRS), or a path.
  binary: string;
  port: number;
  configFile: string;
  configText: string;
  pidFile: string;
  // nats-server's own log (its stderr), appended.
  logFile: string;
  log: Logger;
  backoff?: BackoffPolicy;
}

// The NatsProcess options for an agent config: config and store under stateDir/nats, pid file in
// runDir, log in logDir. Throws when the nkeys in the config are unusable.
export function natsProcessOptions(config: Pick<AgentConfig, 'stateDir' | 'runDir' | 'logDir'>, nats: AgentNatsConfig, log: Logger): NatsProcessOptions {
  const dir = join(config.stateDir, NATS_DIR);
  const port = natsPortOf(nats);
  return {
    binary: nats.binary ?? DEFAULT_NATS_BINARY,
    port,
    configFile: join(dir, NATS_CONFIG_FILE),
    configText: natsServerConfig({
      port,
      storeDir: dir,
      agentPublicKey: agentPublicKey(nats.agentSeed),
      controlPlaneNkey: checkUserPublicKey(nats.controlPlaneNkey, 'nats.controlPlaneNkey in the agent config'),
      limits: streamLimitsOf(nats),
    }),
    pidFile: join(config.runDir, AGENT_PID_FILES.nats),
    logFile: join(config.logDir, NATS_LOG_FILE),
    log,
  };
}

export function resolveNatsBinary(binary: string, pathEnv = process.env.PATH ?? ''): string | undefined {
  return resolveExecutable(binary, pathEnv, NATS_FALLBACK_DIRS.map((d) => join(d, binary)));
}

// The config is written at the first start. A nats-server left over by an agent that was killed
// is stopped before that: it holds the port and the store.
export class NatsProcess extends SupervisedChild {
  constructor(opts: NatsProcessOptions) {
    super({
      event: 'nats',
      name: 'nats-server',
      title: 'nats-server',
      binary: opts.binary,
      resolveBinary: resolveNatsBinary,
      missingMessage: `no nats-server executable: "${opts.binary}" is not in PATH nor in ${NATS_FALLBACK_DIRS.join(', ')}; install Debian's nats-server package (re-run onboarding) or set nats.binary in the agent config`,
      args: ['-c', opts.configFile],
      pidFile: opts.pidFile,
      marker: opts.configFile,
      logFile: opts.logFile,
      log: opts.log,
      startedFields: { port: opts.port },
      prepare: () => writePrivateFile(opts.configFile, opts.configText),
      probe: () => answersInfo(opts.port),
      pollMs: NATS_READY_POLL_MS,
      notAnswering: `nothing answered on 127.0.0.1:${opts.port}`,
      readyDeadlineMs: NATS_READY_DEADLINE_MS,
      stopTimeoutMs: NATS_STOP_TIMEOUT_MS,
      backoff: opts.backoff,
    });
  }
}

// True when something on 127.0.0.1:port greets with a NATS INFO line.
export function answersInfo(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = tcpConnect({ host: '127.0.0.1', port });
    let settled = false;
    const finish = (ok: boolean) => {
      if (settled) return;
      settled = true;
      socket.destroy();
      resolve(ok);
    };
    socket.setTimeout(INFO_TIMEOUT_MS, () => finish(false));
    socket.once('data', (c: Buffer) => finish(c.toString('latin1').startsWith('INFO ')));
    socket.once('error', () => finish(false));
    socket.once('close', () => finish(false));
  });
}

// 0600 in a 0700 folder, replaced atomically.
function writePrivateFile(path: string, text: string): void {
  mkdirSync(dirname(path), { recursive: true, mode: 0o700 });
  chmodSync(dirname(path), 0o700);
  const tmp = `${path}.${process.pid}.tmp`;
  writeFileSync(tmp, text, { mode: 0o600 });
  renameSync(tmp, path);
}
