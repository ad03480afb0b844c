#!/usr/bin/env node
// Bundles the node agent into one CommonJS file that runs on the node's Node.js (>= 18):
// out/agent/podploy-agent.cjs. No native modules; pino logs to a file destination, not a
// worker-thread transport, so nothing needs to sit beside the bundle.
import { build } from 'esbuild';
import { createHash } from 'node:crypto';
import { readFileSync, statSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..');
export const AGENT_BUNDLE = join(ROOT, 'out', 'agent', 'podploy-agent.cjs');
const { version } = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8'));

await build({
  entryPoints: [join(ROOT, 'agent', 'main.ts')],
  outfile: AGENT_BUNDLE,
  bundle: true,
  platform: 'node',
  target: 'node18',
  format: 'cjs',
  minify: true,
  keepNames: true,
  sourcemap: false,
  legalComments: 'none',
  // ssh2's optional native speed-ups (SFTP backup destinations): left out, ssh2 falls back to JS.
  external: ['cpu-features', '*.node'],
  logLevel: 'warning',
  define: { __PODPLOY_AGENT_VERSION__: JSON.stringify(version) },
  banner: { js: `// podploy-agent ${version} (bundled; see agent/ in the PodPloy repository)` },
});

const bytes = readFileSync(AGENT_BUNDLE);
const sha256 = createHash('sha256').update(bytes).digest('hex');
console.log(`${relative(ROOT, AGENT_BUNDLE)}  ${(statSync(AGENT_BUNDLE).size / 1024).toFixed(1)} KiB  sha256 ${sha256}`);
