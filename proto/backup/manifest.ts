// What a backup run holds, sealed beside its data (manifest.sealed) under the same key: the run,
// its source, sizes and checksums. A restore opens it first, so a wrong key or an altered
// manifest is refused before any data is read.
import { BACKUP_FORMAT, CONTROL_PLANE_SOURCE } from '../backup-defaults';
import { openBuffer, sealBuffer, SealedStreamError, SealedStreamWrongKeyError } from '../sealed-stream';
import { BackupIntegrityError } from './integrity-error';

export interface BackupManifest {
  format: 'podploy-backup/1';
  runId: string;
  policyId: string;
  policyName: string;
  nodeId: string | null;
  app: string | null;
  source: { kind: string; [k: string]: string | number | boolean };
  startedAt: number;
  finishedAt: number;
  plainBytes: number;
  sealedBytes: number;
  plainSha256: string;
  chunkBytes: number;
  writer: string; // e.g. "podploy-agent 0.1.0"
}

// A manifest is a few hundred bytes; anything far larger is not one.
export const MAX_MANIFEST_BYTES = 64 * 1024;
const SEGMENT = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$/;
const SHA256_HEX = /^[0-9a-f]{64}$/;

// "<app|control-plane>/<policyId>/<runId>": where a run's two objects sit on a destination.
export function runFolder(policyId: string, runId: string, app: string | null): string {
  const parts = { app: app ?? CONTROL_PLANE_SOURCE, 'policy id': policyId, 'run id': runId };
  for (const [what, value] of Object.entries(parts)) {
    if (!SEGMENT.test(value) || value.includes('..')) {
      throw new Error(`backup ${what} ${JSON.stringify(value.slice(0, 80))} cannot name a folder: use letters, digits, "_", "." and "-" (at most 128, no "..")`);
    }
  }
  return `${parts.app}/${policyId}/${runId}`;
}

export function sealManifest(key: Uint8Array, m: BackupManifest): Promise<Buffer> {
  return sealBuffer(key, Buffer.from(JSON.stringify(m), 'utf8'));
}

// Throws BackupIntegrityError: wrong key, altered or truncated, or not a manifest of this format.
export function openManifest(key: Uint8Array, sealed: Uint8Array): BackupManifest {
  if (sealed.length > MAX_MANIFEST_BYTES) throw new BackupIntegrityError('manifest', `the backup manifest is ${sealed.length} bytes, more than a manifest can be (${MAX_MANIFEST_BYTES}): it is not a PodPloy backup manifest`);
  let plain: Buffer;
  try {
    plain = openBuffer(key, sealed);
  } catch (err) {
    throw integrityErrorOf(err, 'the backup manifest');
  }
  let value: unknown;
  try {
    value = JSON.parse(plain.toString('utf8'));
  } catch {
    throw new BackupIntegrityError('manifest', 'the backup manifest opened but is not JSON: it was written by something other than PodPloy');
  }
  const problems = manifestProblems(value);
  if (problems.length) throw new BackupIntegrityError('manifest', `the backup manifest is not a ${BACKUP_FORMAT} manifest: ${problems.join('; ')}`);
  return value as BackupManifest;
}

function manifestProblems(value: unknown): string[] {
  if (typeof value !== 'object' || value === null) return ['not an object'];
  const m = value as Record<string, unknown>;
  const out: string[] = [];
  if (m.format !== BACKUP_FORMAT) out.push(`format is ${JSON.stringify(m.format)} (this build reads ${BACKUP_FORMAT}; upgrade PodPloy)`);
  for (const k of ['runId', 'policyId', 'policyName', 'writer'] as const) if (typeof m[k] !== 'string') out.push(`${k} is not a string`);
  for (const k of ['nodeId', 'app'] as const) if (m[k] !== null && typeof m[k] !== 'string') out.push(`${k} is not a string or null`);
  for (const k of ['startedAt', 'finishedAt', 'plainBytes', 'sealedBytes', 'chunkBytes'] as const) {
    if (!Number.isSafeInteger(m[k]) || (m[k] as number) < 0) out.push(`${k} is not a whole number`);
  }
  for (const k of ['plainSha256'] as const) if (typeof m[k] !== 'string' || !SHA256_HEX.test(m[k] as string)) out.push(`${k} is not a sha256`);
  const source = m.source as Record<string, unknown> | undefined;
  if (typeof source !== 'object' || source === null || typeof source.kind !== 'string') out.push('source has no kind');
  return out;
}

// A sealed-stream error as the integrity error a restore reports; anything else unchanged.
export function integrityErrorOf(err: unknown, what: string): unknown {
  if (err instanceof BackupIntegrityError || !(err instanceof SealedStreamError)) return err;
  const detail = err.message.replace(/^sealed stream:? ?/, '');
  if (err instanceof SealedStreamWrongKeyError) {
    return new BackupIntegrityError('wrong_key', `${what} was sealed with a different key: this is not the key it was made with (another node's or another control plane's); nothing was restored`, { cause: err });
  }
  const kind = ({ SealedStreamTamperedError: 'tampered', SealedStreamTruncatedError: 'truncated', SealedStreamOrderError: 'reordered', SealedStreamFormatError: 'format' } as const)[err.name as 'SealedStreamTamperedError'] ?? 'tampered';
  const said = { tampered: 'was altered', truncated: 'is truncated', reordered: 'has chunks out of order', format: 'is not a sealed PodPloy backup' }[kind];
  return new BackupIntegrityError(kind, `${what} ${said} (${detail}); it is refused, nothing past the damage was restored`, { cause: err });
}
