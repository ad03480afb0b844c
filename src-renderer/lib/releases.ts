// The release timeline's pure logic: what each row says and which releases can be rolled back
// to. Unit-tested in releases.spec.ts.
import type { ReleaseSummary } from '../../src-main/api/contract';

// "sha256:0123456789abcdef…" -> "0123456789ab" (12 hex digits, as `podman images` shows them).
export function shortDigest(digest: string | null | undefined): string {
  if (!digest) return '';
  return digest.replace(/^sha256:/, '').slice(0, 12);
}

// How long the deploy of a release took; null while it runs.
export function releaseDuration(r: Pick<ReleaseSummary, 'createdAt' | 'finishedAt'>): number | null {
  return r.finishedAt === null ? null : Math.max(0, r.finishedAt - r.createdAt);
}

// A rollback deploys an earlier release that was live once (never a failed one, nor the one
// serving now); none while a deploy runs.
export function canRollBackTo(r: ReleaseSummary, all: ReleaseSummary[]): boolean {
  if (all.some((x) => x.status === 'deploying' || x.status === 'pending')) return false;
  return r.status === 'superseded';
}

// The release `r` to roll back to with the `r` shortcut: the newest earlier one that was live.
export function previousRelease(all: ReleaseSummary[]): ReleaseSummary | null {
  const live = all.find((r) => r.status === 'live');
  const candidates = all.filter((r) => canRollBackTo(r, all) && (!live || r.number < live.number));
  return candidates.sort((a, b) => b.number - a.number)[0] ?? null;
}

// Newest first, whatever order they arrived in.
export function sortReleases(all: ReleaseSummary[]): ReleaseSummary[] {
  return [...all].sort((a, b) => b.number - a.number);
}

// "admin (browser), rollback to v1" -> { who: "admin (browser)", note: "rollback to v1" }.
export function splitCreatedBy(createdBy: string): { who: string; note: string } {
  const i = createdBy.indexOf('), ');
  return i < 0 ? { who: createdBy, note: '' } : { who: createdBy.slice(0, i + 1), note: createdBy.slice(i + 3) };
}
