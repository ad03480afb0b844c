import { randomBytes } from 'node:crypto';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { KEY_BYTES } from './sealed-box';

export const MASTER_KEY_FILE = 'master.key';

// The headless control plane keeps its master key in a 0600 file beside the database, or takes
// it from PODPLOY_MASTER_KEY (base64). The desktop app passes its own, kept by the OS keychain.
export function loadOrCreateMasterKey(dataDir: string, env = process.env): Uint8Array {
  if (env.PODPLOY_MASTER_KEY) {
    const key = Buffer.from(env.PODPLOY_MASTER_KEY, 'base64');
    if (key.length !== KEY_BYTES) throw new Error(`PODPLOY_MASTER_KEY must be ${KEY_BYTES} bytes of base64`);
    return key;
  }
  const file = join(dataDir, MASTER_KEY_FILE);
  if (existsSync(file)) {
    const key = Buffer.from(readFileSync(file, 'utf8').trim(), 'base64');
    if (key.length !== KEY_BYTES) throw new Error(`${file} does not hold a ${KEY_BYTES}-byte base64 key`);
    return key;
  }
  const key = randomBytes(KEY_BYTES);
  writeFileSync(file, key.toString('base64') + '\n', { mode: 0o600, flag: 'wx' });
  return key;
}
