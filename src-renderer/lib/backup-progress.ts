// Live progress of a backup or a restore as the UI shows it: the phase and message, bytes so far
// and the rate over the last few seconds (from the progress events' arrival times). Pure: the
// caller passes the clock; backup-progress.spec.ts.
import type { BackupProgressEvent } from '../../src-main/api/contract';
import { formatBytes } from './format';

// The rate is measured over the samples of this window (older ones are dropped).
export const RATE_WINDOW_MS = 5_000;

export interface ProgressSample {
  atMs: number;
  bytes: number;
}

export interface ProgressView {
  phase: string;
  message: string;
  plainBytes: number;
  sealedBytes: number;
  startedAt: number;
  samples: ProgressSample[];
}

export function initialProgress(now: number): ProgressView {
  return { phase: 'starting', message: '', plainBytes: 0, sealedBytes: 0, startedAt: now, samples: [{ atMs: now, bytes: 0 }] };
}

// The bytes that move: plaintext read (backup) or written (restore).
export function applyProgress(v: ProgressView, e: BackupProgressEvent, now: number): ProgressView {
  const samples = [...v.samples, { atMs: now, bytes: e.plainBytes }];
  const first = samples.findIndex((s) => s.atMs >= now - RATE_WINDOW_MS);
  // Keep one sample just before the window, so the rate spans the whole window.
  const kept = samples.slice(Math.max(0, first - 1));
  return { ...v, phase: e.phase, message: e.message, plainBytes: e.plainBytes, sealedBytes: e.sealedBytes, samples: kept };
}

// Bytes per second over the window; null until two samples are far enough apart to say.
export function progressRate(v: Pick<ProgressView, 'samples'>): number | null {
  if (v.samples.length < 2) return null;
  const a = v.samples[0];
  const b = v.samples[v.samples.length - 1];
  const dt = b.atMs - a.atMs;
  if (dt < 250) return null;
  return Math.max(0, ((b.bytes - a.bytes) * 1000) / dt);
}

export function formatRate(bytesPerSecond: number | null): string {
  return bytesPerSecond === null ? '' : `${formatBytes(bytesPerSecond)}/s`;
}

// "upload · 1.2 GiB read · 1.2 GiB sealed · 85 MiB/s"; a restore says "restored".
export function progressLine(v: ProgressView, verb: 'read' | 'restored' = 'read'): string {
  const parts = [v.phase, `${formatBytes(v.plainBytes)} ${verb}`];
  if (v.sealedBytes) parts.push(`${formatBytes(v.sealedBytes)} sealed`);
  const rate = formatRate(progressRate(v));
  if (rate) parts.push(rate);
  return parts.join(' · ');
}
