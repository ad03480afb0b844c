import { execFile, execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createControlPlane, type ControlPlane, type ControlPlaneOptions } from '../../src-main/control-plane';
import { startHttpServer } from '../../src-main/server/http-server';
import type { CallContext } from '../../src-main/api/router';

export const ROOT = join(import.meta.dirname, '..', '..');
export const CLI = join(ROOT, 'bin', 'podploy.mjs');
export const AGENT_DIR_OF = (user: string) => `/home/${user}/.local/share/podploy/agent`;
export const operator: CallContext = { actor: 'admin', source: 'cli' };

export interface Harness {
  cp: ControlPlane;
  url: string;
  token: string;
  dataDir: string;
  cli(args: string[], opts?: { input?: string; env?: Record<string, string> }): Promise<{ code: number; stdout: string; stderr: string }>;
  close(): Promise<void>;
}

// A real control plane in this process, with its HTTP/WebSocket API on a loopback port, and the
// real CLI run as a child process against it.
export async function startHarness(opts: Partial<ControlPlaneOptions> & { token?: string } = {}): Promise<Harness> {
  const dataDir = opts.dataDir ?? mkdtempSync(join(tmpdir(), 'pp-e2e-'));
  const cp = await createControlPlane({ reportIntervalMs: 1_000, ...opts, dataDir });
  const http = await startHttpServer(cp, '127.0.0.1:0');
  const token = cp.firstAdminToken ?? opts.token!;
  return {
    cp,
    url: http.url,
    token,
    dataDir,
    cli: (args, o = {}) =>
      new Promise((resolve) => {
        const child = execFile(
          process.execPath,
          [CLI, ...args],
          { env: { ...process.env, PODPLOY_URL: http.url, PODPLOY_TOKEN: token, ...o.env }, timeout: 170_000 },
          (err, stdout, stderr) => resolve({ code: err ? ((err as { code?: number }).code ?? 1) : 0, stdout, stderr }),
        );
        child.stdin?.end(o.input ?? '');
      }),
    async close() {
      await http.close();
      await cp.close();
    },
  };
}

export function sh(cmd: string): string {
  return execFileSync('bash', ['-c', cmd], { encoding: 'utf8' });
}

export function asUser(user: string, cmd: string): string {
  return execFileSync('runuser', ['-u', user, '--', 'bash', '-lc', cmd], { encoding: 'utf8', cwd: '/' });
}

function sshArgs(user: string, host: { address: string; port: number }, key: string, cmd: string): string[] {
  return ['-i', key, '-p', String(host.port), '-o', 'StrictHostKeyChecking=no', '-o', 'UserKnownHostsFile=/dev/null', '-o', 'BatchMode=yes', '-o', 'LogLevel=ERROR', `${user}@${host.address}`, cmd];
}

// Runs a command on a test host as that host's user, over SSH, the way an operator would.
export function sshAs(user: string, host: { address: string; port: number }, key: string, cmd: string): string {
  return execFileSync('ssh', sshArgs(user, host, key, cmd), { encoding: 'utf8' });
}

// The same without blocking the event loop (for traffic measured in this process meanwhile).
export function sshAsAsync(user: string, host: { address: string; port: number }, key: string, cmd: string): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile('ssh', sshArgs(user, host, key, cmd), { encoding: 'utf8' }, (err, stdout, stderr) => (err ? reject(new Error(`${cmd}: ${stderr || err.message}`)) : resolve(stdout)));
  });
}

export function agentProcesses(user: string): string[] {
  try {
    return sh(`pgrep -u ${user} -a -f podploy-agent || true`).trim().split('\n').filter(Boolean);
  } catch {
    return [];
  }
}

export function readPid(user: string, name: 'agent' | 'supervisor'): number {
  const f = join(AGENT_DIR_OF(user), 'run', `${name}.pid`);
  return existsSync(f) ? Number(readFileSync(f, 'utf8').trim()) : 0;
}

export async function waitFor<T>(what: string, fn: () => T | Promise<T>, timeoutMs = 30_000, everyMs = 200): Promise<NonNullable<T>> {
  const until = Date.now() + timeoutMs;
  let last: unknown;
  while (Date.now() < until) {
    try {
      const v = await fn();
      if (v) return v as NonNullable<T>;
    } catch (err) {
      last = err;
    }
    await new Promise((r) => setTimeout(r, everyMs));
  }
  throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${last ? `: ${String(last)}` : ''}`);
}
