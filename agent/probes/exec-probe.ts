// An exec liveness probe: the command runs in the container and passes when it exits 0 within
// the timeout.
import type { PodmanClient } from '../podman/client';
import { ExecTimeoutError, runExec } from '../podman/exec';
import type { ProbeResult } from './probe-result';

// A probe's output is only quoted in the failure reason.
export const EXEC_PROBE_OUTPUT_BYTES = 4 * 1024;
const QUOTED_OUTPUT_CHARS = 200;

export interface ExecProbeSpec {
  container: string;
  command: string[];
  timeoutMs: number;
  signal?: AbortSignal;
}

export async function execProbe(podman: PodmanClient, p: ExecProbeSpec): Promise<ProbeResult> {
  const what = `exec ${p.command.join(' ')}`;
  try {
    const r = await runExec(podman, p.container, p.command, { timeoutMs: p.timeoutMs, maxOutputBytes: EXEC_PROBE_OUTPUT_BYTES, signal: p.signal });
    if (r.exitCode === 0) return { ok: true, detail: `${what}: exit 0` };
    const output = (r.stderr.trim() || r.stdout.trim()).slice(0, QUOTED_OUTPUT_CHARS);
    return { ok: false, reason: `${what}: exit ${r.exitCode}${output ? `: ${output}` : ''}` };
  } catch (err) {
    if (err instanceof ExecTimeoutError) return { ok: false, reason: `${what}: did not finish within ${p.timeoutMs} ms` };
    return { ok: false, reason: `${what}: ${(err as Error).message}` };
  }
}
