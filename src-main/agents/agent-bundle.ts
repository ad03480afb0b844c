import { createHash } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ApiError } from '../api/contract';

export interface AgentBundle {
  path: string;
  bytes: Buffer;
  sha256: string;
}

export const AGENT_BUNDLE_NAME = 'podploy-agent.cjs';

// The bundled agent the control plane uploads to nodes: next to the built CLI, in the
// repository's out/ folder, in the packaged app's resources, or where PODPLOY_AGENT_BUNDLE says.
export function locateAgentBundle(extra: string[] = []): string {
  const here = dirname(fileURLToPath(import.meta.url));
  const candidates = [
    process.env.PODPLOY_AGENT_BUNDLE,
    ...extra,
    join(here, '..', 'agent', AGENT_BUNDLE_NAME),
    join(here, '..', '..', 'out', 'agent', AGENT_BUNDLE_NAME),
    join(here, '..', 'out', 'agent', AGENT_BUNDLE_NAME),
  ].filter((c): c is string => !!c);
  const found = candidates.find((c) => existsSync(c));
  if (!found) {
    throw new ApiError('internal', `the agent bundle ${AGENT_BUNDLE_NAME} was not found (looked in ${candidates.join(', ')})`, 'run `npm run build` first');
  }
  return found;
}

let cached: AgentBundle | null = null;

export function loadAgentBundle(path = locateAgentBundle()): AgentBundle {
  if (cached && cached.path === path) return cached;
  const bytes = readFileSync(path);
  cached = { path, bytes, sha256: createHash('sha256').update(bytes).digest('hex') };
  return cached;
}
