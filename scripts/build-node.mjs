#!/usr/bin/env node
// Builds what runs under plain Node: the CLI / headless control plane and the agent bundle.
import { build } from 'esbuild';
import { cpSync, rmSync } from 'node:fs';
import { execFileSync } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const outDir = join(root, 'out', 'cli');
rmSync(outDir, { recursive: true, force: true });
await build({
  entryPoints: [join(root, 'src-main', 'cli', 'main.ts')],
  outfile: join(outDir, 'podploy.mjs'),
  bundle: true,
  platform: 'node',
  target: 'node20',
  format: 'esm',
  packages: 'external',
  sourcemap: 'linked',
  logLevel: 'warning',
});
cpSync(join(root, 'src-main', 'db', 'migrations'), join(outDir, 'migrations'), { recursive: true });
execFileSync(process.execPath, [join(root, 'scripts', 'build-agent.mjs')], { stdio: 'inherit' });
console.log('built out/cli/podploy.mjs');
