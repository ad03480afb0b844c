// Test helper (not product code): the agent's real gRPC server in-process, with mutual TLS from a
// fleet CA made here and a real CommandExecutor (signing, nonce file), and a Terminal client
// that collects what the agent sends.
import { credentials, type ClientDuplexStream, type ServiceError } from '@grpc/grpc-js';
import { generateKeyPairSync } from 'node:crypto';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { TestCa } from '../../test/support/test-ca';
import { AgentClient, type OpenTerminal, type TerminalExit, type TerminalInput, type TerminalOpened, type TerminalOutput, type SignedCommand } from '../../proto/gen/podploy/agent/v1/agent';
import type { NodeEventInput } from '../../proto/node-events';
import { signCommand, type UnsignedCommand } from '../../proto/signing';
import { OPEN_TERMINAL_TTL_MS } from '../../proto/terminal-defaults';
import { agentChannelOptions, agentServerName, CONTROL_PLANE_CN } from '../../proto/tls';
import { CommandExecutor } from '../commands';
import type { AppView } from '../logs-rpc';
import { fileLogger } from '../logger';
import { PodmanClient } from '../podman/client';
import { createAgentService, startAgentServer, type RunningServer } from '../server';
import { LabelsStore } from '../state/labels-store';
import { NonceFileStore } from '../state/nonce-file-store';
import { LiveTerminals } from './live-sessions';

export const TEST_NODE_ID = 'node-term-1';

export interface TerminalTestAgent {
  client: AgentClient;
  dir: string;
  events: NodeEventInput[];
  sessions: LiveTerminals;
  sign(open: Partial<OpenTerminal>, over?: Partial<UnsignedCommand>, ttlMs?: number): SignedCommand;
  session(first: TerminalInput | null): TerminalClient;
  logLines(): Record<string, unknown>[];
  stop(): Promise<void>;
}

export async function startTerminalAgent(options: { podmanSocket: string; apps?: AppView }): Promise<TerminalTestAgent> {
  const dir = mkdtempSync(join(tmpdir(), 'podploy-terminal-'));
  const signing = generateKeyPairSync('ed25519');
  const ca = await TestCa.create();
  const server = await ca.issue({ commonName: TEST_NODE_ID, dnsNames: [agentServerName(TEST_NODE_ID)], ipAddresses: ['127.0.0.1'], usage: 'server' });
  const controlPlane = await ca.issue({ commonName: CONTROL_PLANE_CN, usage: 'client' });
  const log = fileLogger(dir, 'debug');
  const commands = new CommandExecutor({ nodeId: TEST_NODE_ID, commandKey: signing.publicKey, nonces: new NonceFileStore(dir), labels: new LabelsStore(dir), log });
  const events: NodeEventInput[] = [];
  const sessions = new LiveTerminals(dir);
  const service = createAgentService({
    nodeId: TEST_NODE_ID,
    podman: new PodmanClient(options.podmanSocket),
    labels: new LabelsStore(dir),
    commands,
    log,
    startedAtMs: Date.now(),
    apps: options.apps ?? { live: () => undefined, gateOpen: () => false },
    terminals: { sessions, events: { emit: (e) => events.push(e) } },
  });
  const running: RunningServer = await startAgentServer('127.0.0.1', 0, { caPem: Buffer.from(ca.certPem), certPem: Buffer.from(server.certPem), keyPem: Buffer.from(server.keyPem), commandKey: signing.publicKey }, service);
  const creds = credentials.createSsl(Buffer.from(ca.certPem), Buffer.from(controlPlane.keyPem), Buffer.from(controlPlane.certPem));
  const client = new AgentClient(`127.0.0.1:${running.port}`, creds, agentChannelOptions(TEST_NODE_ID));
  return {
    client,
    dir,
    events,
    sessions,
    sign: (open, over = {}, ttlMs = OPEN_TERMINAL_TTL_MS) =>
      signCommand(
        {
          nodeId: TEST_NODE_ID,
          actor: 'alice',
          openTerminal: { sessionId: `s-${Math.random().toString(36).slice(2)}`, app: '', container: '', nodeShell: false, command: [], tty: true, cols: 80, rows: 24, env: {}, ...open },
          ...over,
        },
        signing.privateKey,
        { ttlMs },
      ),
    session: (first) => new TerminalClient(client.terminal(), first),
    logLines: () => readFileSync(join(dir, 'agent.log'), 'utf8').trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>),
    async stop() {
      client.close();
      await running.stop();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

export interface TerminalOutcome {
  exit?: TerminalExit;
  error?: ServiceError;
}

export class TerminalClient {
  opened?: TerminalOpened;
  readonly data: Buffer[] = [];
  readonly stderr: Buffer[] = [];
  bytes = 0;
  messagesAfterExit = 0;
  readonly done: Promise<TerminalOutcome>;
  private exit?: TerminalExit;

  constructor(
    readonly call: ClientDuplexStream<TerminalInput, TerminalOutput>,
    first: TerminalInput | null,
  ) {
    this.done = new Promise((resolve) => {
      call.on('data', (out: TerminalOutput) => {
        if (this.exit) this.messagesAfterExit++;
        if (out.opened) this.opened = out.opened;
        if (out.data) {
          this.data.push(out.data);
          this.bytes += out.data.length;
        }
        if (out.stderr) this.stderr.push(out.stderr);
        if (out.exit) this.exit = out.exit;
      });
      call.on('error', (error: ServiceError) => resolve({ exit: this.exit, error }));
      call.on('end', () => resolve({ exit: this.exit }));
    });
    if (first) call.write(first);
  }

  text(): string {
    return Buffer.concat(this.data).toString('utf8');
  }

  errText(): string {
    return Buffer.concat(this.stderr).toString('utf8');
  }

  type(text: string): void {
    this.call.write({ data: Buffer.from(text) });
  }

  resize(cols: number, rows: number): void {
    this.call.write({ resize: { cols, rows } });
  }

  async waitFor(pattern: RegExp, timeoutMs = 10_000): Promise<RegExpExecArray> {
    const until = Date.now() + timeoutMs;
    for (;;) {
      const m = pattern.exec(this.text());
      if (m) return m;
      if (Date.now() > until) throw new Error(`not within ${timeoutMs} ms: ${pattern} in ${JSON.stringify(this.text().slice(-500))}`);
      await new Promise((r) => setTimeout(r, 20));
    }
  }

  async waitOpened(timeoutMs = 10_000): Promise<TerminalOpened> {
    const until = Date.now() + timeoutMs;
    while (!this.opened) {
      if (Date.now() > until) throw new Error(`no opened within ${timeoutMs} ms`);
      await new Promise((r) => setTimeout(r, 20));
    }
    return this.opened;
  }
}

// Pids of live processes whose command line matches.
export function processesMatching(pattern: RegExp): number[] {
  const out: number[] = [];
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    try {
      const stat = readFileSync(`/proc/${name}/stat`, 'utf8');
      if (stat.slice(stat.lastIndexOf(')') + 2).startsWith('Z')) continue;
      const cmd = readFileSync(`/proc/${name}/cmdline`, 'utf8').replace(/\0/g, ' ');
      if (pattern.test(cmd)) out.push(Number(name));
    } catch {
      // gone meanwhile
    }
  }
  return out;
}
