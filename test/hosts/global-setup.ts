// vitest globalSetup of the end-to-end suites: makes sure the test hosts are up. As root it runs
// test/hosts/setup.sh when they are not (or were made by another version of it); otherwise it
// stops the run with what to do.
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';

const SETUP = join(import.meta.dirname, 'setup.sh');

function hostsUp(): { up: true } | { up: false; why: string } {
  try {
    execFileSync(SETUP, ['--check'], { stdio: ['ignore', 'ignore', 'pipe'], encoding: 'utf8' });
    return { up: true };
  } catch (err) {
    return { up: false, why: String((err as { stderr?: string }).stderr ?? err).trim() };
  }
}

export default function setup(): void {
  const state = hostsUp();
  if (state.up) return;
  if (process.getuid?.() !== 0) {
    throw new Error(
      `the end-to-end test hosts are not up (${state.why}). Creating them needs root (network namespaces, users, sshd): ` +
        'run `sudo test/hosts/setup.sh` once, or run the suite as root as .ci/run does',
    );
  }
  try {
    execFileSync(SETUP, [], { stdio: ['ignore', 'inherit', 'inherit'], timeout: 300_000 });
  } catch (err) {
    throw new Error(`test/hosts/setup.sh failed, so the end-to-end suites cannot run: ${String(err)}`);
  }
}
