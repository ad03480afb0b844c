import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { createControlPlane, DB_FILE } from '../control-plane';
import { MasterKeyError } from '../crypto/master-key';
import { openDatabase } from '../db/database';
import { Tokens } from '../auth/tokens';
import { startHttpServer } from '../server/http-server';

export async function runServe(o: { data: string; listen: string; reportIntervalMs?: number }): Promise<void> {
  let cp: Awaited<ReturnType<typeof createControlPlane>>;
  try {
    cp = await createControlPlane({ dataDir: o.data, reportIntervalMs: o.reportIntervalMs });
  } catch (err) {
    if (!(err instanceof MasterKeyError)) throw err;
    process.stderr.write(`error: ${err.message}\nhint: ${err.hint}\n`);
    process.exit(1);
  }
  let http: Awaited<ReturnType<typeof startHttpServer>>;
  try {
    http = await startHttpServer(cp, o.listen);
  } catch (err) {
    await cp.close();
    const e = err as Error & { code?: string };
    process.stderr.write(`error: cannot listen on ${o.listen}: ${e.code ?? e.message}\nhint: pick another --listen HOST:PORT\n`);
    process.exit(1);
  }
  process.stdout.write(`PodPloy control plane ${cp.version}\n`);
  process.stdout.write(`  UI and API: ${http.url}\n`);
  process.stdout.write(`  state:      ${o.data}\n`);
  if (cp.firstAdminToken) {
    process.stdout.write(`  admin token (shown once, keep it safe): ${cp.firstAdminToken}\n`);
    process.stdout.write(`  CLI: export PODPLOY_URL=${http.url} PODPLOY_TOKEN=${cp.firstAdminToken}\n`);
  }
  const stop = async () => {
    await http.close();
    await cp.close();
    process.exit(0);
  };
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
}

export function resetAdminToken(dataDir: string): string {
  mkdirSync(dataDir, { recursive: true });
  const db = openDatabase(join(dataDir, DB_FILE));
  try {
    return new Tokens(db).resetAdmin();
  } finally {
    db.$client.close();
  }
}
