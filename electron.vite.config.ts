import { cpSync } from 'node:fs';
import { resolve } from 'node:path';
import { defineConfig } from 'electron-vite';
import { svelte } from '@sveltejs/vite-plugin-svelte';
import type { Plugin } from 'vite';

const root = import.meta.dirname;

// Native modules (and what loads them) stay outside the bundle: packaging rebuilds them for
// Electron's ABI and unpacks them from the asar.
const NATIVE_DEPS = ['better-sqlite3', 'ssh2', 'cpu-features', 'bufferutil', 'utf-8-validate'];

// The control-plane core finds its SQL migrations beside the running file.
function copyMigrations(): Plugin {
  return {
    name: 'podploy-copy-migrations',
    apply: 'build',
    writeBundle(options) {
      const outDir = options.dir ?? resolve(root, 'out/main');
      cpSync(resolve(root, 'src-main/db/migrations'), resolve(outDir, 'migrations'), { recursive: true });
    },
  };
}

export default defineConfig({
  main: {
    plugins: [copyMigrations()],
    build: {
      outDir: 'out/main',
      // Every package.json dependency stays external (loaded from node_modules at run time);
      // native ones are listed explicitly so transitive requires are never inlined either.
      externalizeDeps: { include: NATIVE_DEPS },
      rolldownOptions: {
        input: { index: resolve(root, 'electron/main.ts') },
      },
    },
  },
  preload: {
    build: {
      outDir: 'out/preload',
      // A sandboxed preload must be a single CommonJS script that only requires 'electron'.
      externalizeDeps: false,
      rolldownOptions: {
        input: { index: resolve(root, 'electron/preload.ts') },
        external: ['electron'],
        output: { format: 'cjs', entryFileNames: '[name].cjs' },
      },
    },
  },
  renderer: {
    root: resolve(root, 'src-renderer'),
    // Relative asset URLs: `podploy serve` serves out/renderer at `/`, Electron loads it from file://.
    base: './',
    plugins: [svelte()],
    build: {
      outDir: resolve(root, 'out/renderer'),
      emptyOutDir: true,
      rolldownOptions: {
        input: { index: resolve(root, 'src-renderer/index.html') },
      },
    },
  },
});
