import { credentials, Metadata, type ClientDuplexStream, type ClientReadableStream } from '@grpc/grpc-js';
import type { Server } from 'node:net';
import {
  AgentClient,
  type BackupProgress,
  type CommandEnvelope,
  type CommandResult,
  type DeployApp,
  type DeployEvent,
  type HandshakeResponse,
  type ListContainersResponse,
  type LogChunk,
  type ListBackupRunsResponse,
  type LogsRequest,
  type OpenTerminal,
  type RestoreBackup,
  type RunBackup,
  type TerminalInput,
  type TerminalOutput,
  type UsageReport,
} from '../../proto/gen/podploy/agent/v1/agent';
import { signCommand } from '../../proto/signing';
import { OPEN_TERMINAL_TTL_MS } from '../../proto/terminal-defaults';
import { ApiError } from '../api/contract';
import { agentServerName, type CertAndKey } from '../crypto/fleet-ca';
import type { SshSession } from '../ssh/ssh-session';

export const HANDSHAKE_DEADLINE_MS = 5_000;
export const COMMAND_TTL_MS = 60_000;
export const LIST_CONTAINERS_DEADLINE_MS = 15_000;

export interface AgentCredentials {
  caCertPem: string;
  client: CertAndKey;
  signingKey: import('node:crypto').KeyObject;
}

// A gRPC client for one agent, tunnelled through the SSH session the control plane holds:
// mTLS end to end (the SSH tunnel only carries bytes), the agent's name checked against the
// fleet CA's certificate for that node.
export class AgentConnection {
  private constructor(
    readonly nodeId: string,
    private client: AgentClient,
    private forward: Server,
    private creds: AgentCredentials,
  ) {}

  static async open(ssh: SshSession, nodeId: string, agentPort: number, creds: AgentCredentials): Promise<AgentConnection> {
    const { port, server } = await ssh.forwardLocal('127.0.0.1', agentPort);
    const channelCreds = credentials.createSsl(
      Buffer.from(creds.caCertPem),
      Buffer.from(creds.client.keyPem),
      Buffer.from(creds.client.certPem),
    );
    const client = new AgentClient(`127.0.0.1:${port}`, channelCreds, {
      'grpc.ssl_target_name_override': agentServerName(nodeId),
      'grpc.default_authority': agentServerName(nodeId),
      'grpc.keepalive_time_ms': 15_000,
      'grpc.keepalive_timeout_ms': 5_000,
    });
    return new AgentConnection(nodeId, client, server, creds);
  }

  handshake(deadlineMs = HANDSHAKE_DEADLINE_MS): Promise<HandshakeResponse> {
    return new Promise((resolve, reject) => {
      this.client.handshake({ controlPlaneId: 'podploy' }, new Metadata(), { deadline: Date.now() + deadlineMs }, (err, res) =>
        err ? reject(err) : resolve(res!),
      );
    });
  }

  watchUsage(intervalMs: number): ClientReadableStream<UsageReport> {
    return this.client.watchUsage({ intervalMs });
  }

  execute(command: Omit<CommandEnvelope, 'nonce' | 'issuedAtMs' | 'expiresAtMs' | 'nodeId'>, ttlMs = COMMAND_TTL_MS, deadlineMs = 15_000): Promise<CommandResult> {
    const signed = signCommand({ ...command, nodeId: this.nodeId }, this.creds.signingKey, { ttlMs });
    return new Promise((resolve, reject) => {
      this.client.execute(signed, new Metadata(), { deadline: Date.now() + deadlineMs }, (err, res) =>
        err ? reject(new ApiError('agent_failed', `the agent refused or failed the command: ${err.details || err.message}`)) : resolve(res!),
      );
    });
  }

  // A signed deploy; the agent streams each step and then a final event.
  deploy(release: DeployApp, actor: string, onEvent: (e: DeployEvent) => void, ttlMs = COMMAND_TTL_MS): Promise<DeployEvent> {
    const signed = signCommand({ nodeId: this.nodeId, actor, deployApp: release }, this.creds.signingKey, { ttlMs });
    return new Promise((resolve, reject) => {
      let final: DeployEvent | null = null;
      const stream = this.client.deploy(signed);
      stream.on('data', (e: DeployEvent) => {
        if (e.final) final = e;
        else onEvent(e);
      });
      stream.on('error', (err: Error & { details?: string }) =>
        reject(new ApiError('agent_failed', `the agent refused or broke off the deploy: ${err.details || err.message}`)),
      );
      stream.on('end', () =>
        final ? resolve(final) : reject(new ApiError('agent_failed', 'the agent ended the deploy without a result', 'look at the agent log on the node')),
      );
    });
  }

  // Read-only, server-streaming: the caller reads the chunks and cancel()s the stream to end a
  // follow (the agent then stops reading from Podman). Pausing the stream pushes back to the node.
  logs(request: LogsRequest): ClientReadableStream<LogChunk> {
    return this.client.logs(request);
  }

  // Interactive: the stream's first message is the signed open; the caller writes input, resizes
  // and stdin EOF, reads opened/output/exit, and half-closes or cancels it to end the session.
  terminal(open: OpenTerminal, actor: string, ttlMs = OPEN_TERMINAL_TTL_MS): ClientDuplexStream<TerminalInput, TerminalOutput> {
    const signed = signCommand({ nodeId: this.nodeId, actor, openTerminal: open }, this.creds.signingKey, { ttlMs });
    const stream = this.client.terminal();
    stream.write({ open: signed });
    return stream;
  }

  // A signed run_backup or restore_backup; the agent streams progress and then one final message.
  // The work goes on on the node when this caller goes away (the run is reported as events).
  backup(
    command: { runBackup: RunBackup; restoreBackup?: undefined } | { restoreBackup: RestoreBackup; runBackup?: undefined },
    actor: string,
    onProgress: (p: BackupProgress) => void,
    ttlMs = COMMAND_TTL_MS,
  ): Promise<BackupProgress> {
    const signed = signCommand({ nodeId: this.nodeId, actor, ...command }, this.creds.signingKey, { ttlMs });
    const what = command.runBackup ? 'backup' : 'restore';
    return new Promise((resolve, reject) => {
      let final: BackupProgress | null = null;
      const stream = this.client.backup(signed);
      stream.on('data', (p: BackupProgress) => {
        if (p.final) final = p;
        else onProgress(p);
      });
      stream.on('error', (err: Error & { details?: string }) =>
        reject(new ApiError('agent_failed', `the agent refused or broke off the ${what}: ${err.details || err.message}`, `see \`podploy backup runs\` and \`podploy events --kind ${what}\` for what the node recorded`)),
      );
      stream.on('end', () =>
        final ? resolve(final) : reject(new ApiError('agent_failed', `the agent ended the ${what} without a result`, 'look at the agent log on the node')),
      );
    });
  }

  listBackupRuns(policyId = '', limit = 0, deadlineMs = LIST_CONTAINERS_DEADLINE_MS): Promise<ListBackupRunsResponse> {
    return new Promise((resolve, reject) => {
      this.client.listBackupRuns({ policyId, limit }, new Metadata(), { deadline: Date.now() + deadlineMs }, (err, res) =>
        err ? reject(new ApiError('agent_failed', `the agent could not list its backup runs: ${err.details || err.message}`)) : resolve(res!),
      );
    });
  }

  listContainers(app: string, deadlineMs = LIST_CONTAINERS_DEADLINE_MS): Promise<ListContainersResponse> {
    return new Promise((resolve, reject) => {
      this.client.listContainers({ app }, new Metadata(), { deadline: Date.now() + deadlineMs }, (err, res) =>
        err ? reject(new ApiError('agent_failed', `the agent could not list containers: ${err.details || err.message}`)) : resolve(res!),
      );
    });
  }

  close(): void {
    this.client.close();
    this.forward.close();
  }
}

// Retries the handshake until the agent answers or the deadline passes (the agent may still be
// starting right after onboarding or a restart).
export async function handshakeWithin(conn: AgentConnection, totalMs: number): Promise<HandshakeResponse> {
  const until = Date.now() + totalMs;
  let last: unknown;
  while (Date.now() < until) {
    try {
      return await conn.handshake(Math.min(HANDSHAKE_DEADLINE_MS, Math.max(500, until - Date.now())));
    } catch (err) {
      last = err;
      await new Promise((r) => setTimeout(r, 300));
    }
  }
  const why = last instanceof Error ? last.message : String(last);
  throw new ApiError('agent_failed', `the agent did not answer the mTLS handshake within ${Math.round(totalMs / 1000)} s: ${why}`, 'look at ~/.local/share/podploy/agent/log/agent.log on the node');
}
