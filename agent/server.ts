// The agent's gRPC server: mutual TLS against the fleet CA, and only the control plane's
// certificate (CN podploy-control-plane) may call.
import { Server, ServerCredentials, status, type ServerErrorResponse, type ServerUnaryCall } from '@grpc/grpc-js';
import type { BackupProgress, CommandEnvelope, DeployEvent, LogChunk } from '../proto/gen/podploy/agent/v1/agent';
import { AgentService, type AgentServer } from '../proto/gen/podploy/agent/v1/agent';
import { CommandRejected } from '../proto/signing';
import { CONTROL_PLANE_CN } from '../proto/tls';
import { CommandExecutor, InvalidCommand, UnknownCommand } from './commands';
import { BackupCallRefused, handleBackupCall } from './backup/backup-rpc';
import type { NodeBackups } from './backup/node-backups';
import { IngressBusyError } from './ingress/runtime';
import { DeployRefusedError } from './deploy/deploy-app';
import { LazarusRefused } from './lazarus/lazarus';
import { runDeploy, type DeployCallDeps } from './deploy-rpc';
import { listAppContainers, LogsRefused, streamLogs, type AppView } from './logs-rpc';
import { handleTerminal, type TerminalCallDeps } from './terminal/terminal-rpc';
import type { GateRegistry } from './deploy/deploy-app';
import type { AgentTls } from './config';
import { collectFacts } from './facts';
import type { Logger } from './logger';
import type { PodmanClient } from './podman/client';
import type { LabelsStore } from './state/labels-store';
import { UsageSampler } from './usage';
import { AGENT_VERSION } from './version';

export const DEFAULT_USAGE_INTERVAL_MS = 5_000;
export const MIN_USAGE_INTERVAL_MS = 250;
export const MAX_USAGE_INTERVAL_MS = 3_600_000;
export const SHUTDOWN_GRACE_MS = 5_000;

export interface AgentServiceDeps {
  nodeId: string;
  podman: PodmanClient;
  labels: LabelsStore;
  commands: CommandExecutor;
  log: Logger;
  startedAtMs: number;
  // Absent: Deploy answers UNAVAILABLE (the agent runs without a Deployer).
  deploys?: Omit<DeployCallDeps, 'nodeId' | 'log'>;
  // What Logs and ListContainers read; absent: taken from deploys (no live release without it).
  apps?: AppView;
  // The node's live terminal sessions and where their events go; absent: Terminal answers UNAVAILABLE.
  terminals?: Pick<TerminalCallDeps, 'sessions' | 'events'>;
  // The node's backups; absent: Backup and ListBackupRuns answer UNAVAILABLE.
  backups?: NodeBackups;
}

function appViewOf(deps: AgentServiceDeps): AppView {
  if (deps.apps) return deps.apps;
  const ingress = deps.deploys?.ingress as Partial<GateRegistry> | undefined;
  return {
    live: (app) => deps.deploys?.deployer.state.live(app),
    gateOpen: (app, slot) => ingress?.lookup?.(app)?.gates[slot as 'a' | 'b']?.current === 'open',
  };
}

export function usageIntervalMs(requested: number): number {
  if (!requested) return DEFAULT_USAGE_INTERVAL_MS;
  return Math.min(MAX_USAGE_INTERVAL_MS, Math.max(MIN_USAGE_INTERVAL_MS, requested));
}

export function createAgentService(deps: AgentServiceDeps): AgentServer {
  const { log } = deps;
  const apps = appViewOf(deps);
  return {
    handshake(call, callback) {
      if (!callerIsControlPlane(call, log)) return callback(notControlPlane());
      collectFacts({ podman: deps.podman }).then(
        (facts) =>
          callback(null, { nodeId: deps.nodeId, agentVersion: AGENT_VERSION, facts, labels: deps.labels.get(), startedAtMs: deps.startedAtMs }),
        (err: Error) => callback(grpcError(status.INTERNAL, `collecting facts failed: ${err.message}`)),
      );
    },

    watchUsage(call) {
      if (!callerIsControlPlane(call, log)) return failStream(call, notControlPlane());
      const intervalMs = usageIntervalMs(call.request.intervalMs);
      const sampler = new UsageSampler(deps.podman);
      let timer: NodeJS.Timeout | undefined;
      let open = true;
      const stop = () => {
        open = false;
        clearTimeout(timer);
      };
      call.on('cancelled', stop);
      call.on('close', stop);
      call.on('error', stop);
      const tick = async () => {
        const started = Date.now();
        try {
          const report = await sampler.sample();
          if (!open) return;
          call.write(report);
        } catch (err) {
          log.error({ event: 'usage_failed', err }, 'usage sample failed');
        }
        if (open) timer = setTimeout(tick, Math.max(0, intervalMs - (Date.now() - started)));
      };
      void tick();
    },

    execute(call, callback) {
      if (!callerIsControlPlane(call, log)) return callback(notControlPlane());
      deps.commands.execute(call.request).then(
        (result) => callback(null, result),
        (err: Error) => {
          if (err instanceof CommandRejected) return callback(grpcError(status.PERMISSION_DENIED, `node ${deps.nodeId} rejected the command: ${err.message}`));
          if (err instanceof UnknownCommand) return callback(grpcError(status.UNIMPLEMENTED, err.message));
          if (err instanceof InvalidCommand) return callback(grpcError(status.INVALID_ARGUMENT, `node ${deps.nodeId}: ${err.message}`));
          if (err instanceof IngressBusyError || err instanceof DeployRefusedError || err instanceof LazarusRefused) return callback(grpcError(status.FAILED_PRECONDITION, `node ${deps.nodeId}: ${err.message}`));
          log.error({ event: 'command_failed', err }, 'command failed');
          callback(grpcError(status.INTERNAL, `the command failed on node ${deps.nodeId}: ${err.message}`));
        },
      );
    },

    // Server-streaming: step events, then one final event (see deploy-rpc.ts for the contract).
    deploy(call) {
      if (!callerIsControlPlane(call, log)) return failStream(call, notControlPlane());
      let envelope: CommandEnvelope;
      try {
        envelope = deps.commands.verify(call.request);
      } catch (err) {
        if (err instanceof CommandRejected) return failStream(call, grpcError(status.PERMISSION_DENIED, `node ${deps.nodeId} rejected the command: ${err.message}`));
        log.error({ event: 'command_failed', err }, 'verifying a deploy failed');
        return failStream(call, grpcError(status.INTERNAL, `verifying the deploy failed on node ${deps.nodeId}: ${(err as Error).message}`));
      }
      if (!envelope.deployApp) {
        log.warn({ event: 'deploy_invalid', actor: envelope.actor, nonce: envelope.nonce }, 'Deploy called without deploy_app');
        return failStream(call, grpcError(status.INVALID_ARGUMENT, 'Deploy needs a signed command carrying deploy_app; other commands go through Execute'));
      }
      if (!deps.deploys) return failStream(call, grpcError(status.UNAVAILABLE, `node ${deps.nodeId}: this agent runs without deploys`));
      let open = true;
      const closed = () => {
        if (open) log.info({ event: 'deploy_caller_gone', app: envelope.deployApp?.app, release: envelope.deployApp?.release }, 'the caller went away; the deploy goes on');
        open = false;
      };
      call.on('cancelled', closed);
      call.on('error', closed);
      const write = (e: DeployEvent) => {
        if (open && !call.cancelled && !call.destroyed) call.write(e);
      };
      runDeploy(envelope.deployApp, { actor: envelope.actor, nonce: envelope.nonce, signed: call.request }, { nodeId: deps.nodeId, log, ...deps.deploys }, write)
        .catch((err: Error) => {
          log.error({ event: 'deploy_crashed', err }, 'deploy call failed');
          write({ step: 0, name: '', state: 'refused', message: '', durationMs: 0, final: true, ok: false, imageDigest: '', failedStep: '', reason: `node ${deps.nodeId}: internal error: ${err.message}` });
        })
        .finally(() => {
          open = false;
          if (!call.cancelled && !call.destroyed) call.end();
        });
    },

    // Server-streaming and read-only; see logs-rpc.ts. Ends on the caller's cancel.
    logs(call) {
      if (!callerIsControlPlane(call, log)) return failStream(call, notControlPlane());
      const controller = new AbortController();
      const stop = () => controller.abort();
      call.on('cancelled', stop);
      call.on('close', stop);
      call.on('error', stop);
      const sink = {
        write: (chunk: LogChunk) => (controller.signal.aborted || call.destroyed ? false : call.write(chunk)),
        drained: () =>
          new Promise<void>((resolve) => {
            const done = () => {
              call.off('drain', done);
              controller.signal.removeEventListener('abort', done);
              resolve();
            };
            call.once('drain', done);
            controller.signal.addEventListener('abort', done, { once: true });
          }),
      };
      const { app, release, follow } = call.request;
      log.info({ event: 'logs_started', app, release: release || undefined, follow }, `logs of ${app}${follow ? ' (following)' : ''}`);
      streamLogs(call.request, { nodeId: deps.nodeId, podman: deps.podman, apps, log }, sink, controller.signal)
        .then(
          () => {
            if (!controller.signal.aborted && !call.destroyed) call.end();
          },
          (err: Error) => {
            if (controller.signal.aborted) return;
            if (err instanceof LogsRefused) return failStream(call, grpcError(err.code === 'not_found' ? status.NOT_FOUND : status.INVALID_ARGUMENT, err.message));
            log.error({ event: 'logs_failed', app, err }, 'logs failed');
            failStream(call, grpcError(status.INTERNAL, `node ${deps.nodeId}: reading the logs of ${app} failed: ${err.message}`));
          },
        )
        .finally(() => log.info({ event: 'logs_ended', app, cancelled: controller.signal.aborted }, `logs of ${app} ended`));
    },

    // Bidirectional: a signed open first, then the session (see terminal/terminal-rpc.ts for the order).
    terminal(call) {
      if (!callerIsControlPlane(call, log)) return failStream(call, notControlPlane());
      if (!deps.terminals) return failStream(call, grpcError(status.UNAVAILABLE, `node ${deps.nodeId}: this agent runs without terminals`));
      handleTerminal(call, { nodeId: deps.nodeId, podman: deps.podman, apps, commands: deps.commands, log, ...deps.terminals });
    },

    // Server-streaming: progress, then one final message (see backup/backup-rpc.ts).
    backup(call) {
      if (!callerIsControlPlane(call, log)) return failStream(call, notControlPlane());
      if (!deps.backups) return failStream(call, grpcError(status.UNAVAILABLE, `node ${deps.nodeId}: this agent runs without backups`));
      let open = true;
      const closed = () => {
        if (open) log.info({ event: 'backup_caller_gone' }, 'the caller went away; the backup goes on');
        open = false;
      };
      call.on('cancelled', closed);
      call.on('error', closed);
      const write = (p: BackupProgress) => {
        if (open && !call.cancelled && !call.destroyed) call.write(p);
      };
      handleBackupCall(call.request, { verify: (signed) => deps.commands.verify(signed), write }, deps.backups, deps.nodeId, log).then(
        () => {
          open = false;
          if (!call.cancelled && !call.destroyed) call.end();
        },
        (err: Error) => {
          open = false;
          if (err instanceof CommandRejected) return failStream(call, grpcError(status.PERMISSION_DENIED, `node ${deps.nodeId} rejected the command: ${err.message}`));
          if (err instanceof BackupCallRefused) return failStream(call, grpcError(status.INVALID_ARGUMENT, err.message));
          log.error({ event: 'backup_call_failed', err }, 'backup call failed');
          failStream(call, grpcError(status.INTERNAL, `node ${deps.nodeId}: the backup call failed: ${err.message}`));
        },
      );
    },

    listBackupRuns(call, callback) {
      if (!callerIsControlPlane(call, log)) return callback(notControlPlane());
      if (!deps.backups) return callback(grpcError(status.UNAVAILABLE, `node ${deps.nodeId}: this agent runs without backups`));
      callback(null, { runs: deps.backups.listRuns(call.request) });
    },

    listContainers(call, callback) {
      if (!callerIsControlPlane(call, log)) return callback(notControlPlane());
      listAppContainers(call.request.app, { podman: deps.podman, apps }).then(
        (res) => callback(null, res),
        (err: Error) => callback(grpcError(status.INTERNAL, `node ${deps.nodeId}: listing containers failed: ${err.message}`)),
      );
    },
  };
}

// The TLS layer already required a client certificate from the fleet CA; this also requires
// it to be the control plane's, not another agent's.
function callerIsControlPlane(call: Pick<ServerUnaryCall<unknown, unknown>, 'getAuthContext' | 'getPeer'>, log: Logger): boolean {
  const cn = call.getAuthContext()?.sslPeerCertificate?.subject?.CN;
  if (cn === CONTROL_PLANE_CN) return true;
  log.warn({ event: 'caller_refused', peer: call.getPeer(), cn: cn ?? null }, 'caller is not the control plane');
  return false;
}

// Ends a server stream with an error status. (destroy(err) would not: grpc-js sends the status
// from the stream's final step, which a destroyed stream never reaches, and the caller hangs.)
function failStream(call: { emit(event: 'error', err: ServerErrorResponse): boolean }, err: ServerErrorResponse): void {
  call.emit('error', err);
}

function notControlPlane(): ServerErrorResponse {
  return grpcError(status.PERMISSION_DENIED, `only the control plane (certificate CN ${CONTROL_PLANE_CN}) may call this agent`);
}

function grpcError(code: status, details: string): ServerErrorResponse {
  return Object.assign(new Error(details), { code, details });
}

export interface RunningServer {
  port: number;
  stop(): Promise<void>;
}

export function startAgentServer(host: string, port: number, tls: AgentTls, service: AgentServer): Promise<RunningServer> {
  const server = new Server();
  server.addService(AgentService, service);
  const creds = ServerCredentials.createSsl(tls.caPem, [{ cert_chain: tls.certPem, private_key: tls.keyPem }], true);
  return new Promise((resolve, reject) => {
    server.bindAsync(`${host}:${port}`, creds, (err, boundPort) => {
      if (err) return reject(new Error(`cannot listen on ${host}:${port}: ${err.message}`));
      resolve({ port: boundPort, stop: () => stopServer(server) });
    });
  });
}

function stopServer(server: Server): Promise<void> {
  return new Promise((resolve) => {
    const force = setTimeout(() => {
      server.forceShutdown();
      resolve();
    }, SHUTDOWN_GRACE_MS);
    server.tryShutdown(() => {
      clearTimeout(force);
      resolve();
    });
  });
}
