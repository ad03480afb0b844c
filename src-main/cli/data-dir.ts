import { homedir } from 'node:os';
import { join } from 'node:path';

// The user's data folder, as the desktop app's userData would be.
export function defaultDataDir(env = process.env, platform = process.platform): string {
  if (env.PODPLOY_DATA) return env.PODPLOY_DATA;
  if (platform === 'darwin') return join(homedir(), 'Library', 'Application Support', 'PodPloy');
  if (platform === 'win32') return join(env.APPDATA ?? join(homedir(), 'AppData', 'Roaming'), 'PodPloy');
  return join(env.XDG_DATA_HOME || join(homedir(), '.local', 'share'), 'podploy');
}
