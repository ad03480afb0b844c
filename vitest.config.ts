import { defineConfig } from 'vitest/config';

// Unit tests sit beside the code (*.spec.ts); end-to-end suites live in test/e2e and run one
// file at a time against the real test hosts (network namespaces with sshd and rootless Podman).
export default defineConfig({
  test: {
    projects: [
      {
        test: {
          name: 'unit',
          include: ['src-main/**/*.spec.ts', 'agent/**/*.spec.ts', 'proto/**/*.spec.ts', 'electron/**/*.spec.ts', 'src-renderer/**/*.spec.ts'],
          testTimeout: 60_000,
        },
      },
      {
        test: {
          name: 'e2e',
          include: ['test/e2e/**/*.test.ts'],
          globalSetup: ['test/hosts/global-setup.ts'],
          fileParallelism: false,
          testTimeout: 180_000,
          hookTimeout: 180_000,
        },
      },
    ],
  },
});
