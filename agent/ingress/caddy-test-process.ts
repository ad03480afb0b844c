// Test helper (not product code): runs Debian's caddy as a plain process whose only config is
// its admin listen address; tests load the real config through the admin API.
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { adminListenValue, CaddyAdmin, CaddyAdminError, type CaddyAdminEndpoint } from './caddy-admin';

export const CADDY_BINARY = '/usr/bin/caddy';
// Below vitest's 10 s hook timeout, so a failed start reports Caddy's own words.
export const CADDY_START_DEADLINE_MS = 8_000;
const STDERR_TAIL_CHARS = 4_000;

export interface TestCaddy {
  admin: CaddyAdmin;
  adminListen: string;
  dir: string;
  stderrTail(): string;
  stop(): Promise<void>;
}

// A port nothing listens on (checked on the wildcard address, so it is free on every loopback IP).
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once('error', reject);
    srv.listen(0, () => {
      const port = (srv.address() as { port: number }).port;
      srv.close(() => resolve(port));
    });
  });
}

export async function startTestCaddy(endpoint?: CaddyAdminEndpoint): Promise<TestCaddy> {
  const dir = mkdtempSync(join(tmpdir(), 'podploy-caddy-'));
  const ep = endpoint ?? { host: '127.0.0.1', port: await freePort() };
  const adminListen = adminListenValue(ep);
  const boot = join(dir, 'boot.json');
  writeFileSync(boot, JSON.stringify({ admin: { listen: adminListen } }));
  // HOME and XDG folders in the temp dir: Caddy's autosave and storage stay out of the real home.
  const env = { ...process.env, HOME: dir, XDG_CONFIG_HOME: dir, XDG_DATA_HOME: dir };
  const child: ChildProcess = spawn(CADDY_BINARY, ['run', '--config', boot], { env, stdio: ['ignore', 'ignore', 'pipe'] });
  let tail = '';
  child.stderr?.on('data', (c: Buffer) => (tail = (tail + c.toString('utf8')).slice(-STDERR_TAIL_CHARS)));
  let exited = false;
  const exit = new Promise<void>((r) => child.once('exit', () => ((exited = true), r())));
  const admin = new CaddyAdmin(ep, 1_000);
  const stop = async () => {
    if (!exited) child.kill('SIGKILL');
    await exit;
    rmSync(dir, { recursive: true, force: true });
  };
  const deadline = Date.now() + CADDY_START_DEADLINE_MS;
  for (;;) {
    if (exited) throw new Error(`caddy exited at start:\n${tail}`);
    try {
      await admin.getConfigText();
      break;
    } catch (err) {
      // Caddy answered, but with an error: waiting longer will not help.
      const answered = err instanceof CaddyAdminError && err.statusCode !== undefined;
      if (answered || Date.now() > deadline) {
        await stop();
        throw new Error(`caddy's admin API did not answer within ${CADDY_START_DEADLINE_MS} ms: ${(err as Error).message}\n${tail}`);
      }
      await new Promise((r) => setTimeout(r, 50));
    }
  }
  return { admin: new CaddyAdmin(ep), adminListen, dir, stderrTail: () => tail, stop };
}
