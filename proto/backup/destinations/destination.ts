// Backup destinations, shared by the agent (node backups) and the control plane (its own state and restores onto a fresh control plane).
// Where the agent puts backup files. A backup arrives as a Readable of sealed (already
// encrypted) bytes of unknown length; every implementation streams it with back-pressure, so
// memory stays bounded whatever the size, and a reader never sees a half-written object.
import type { Readable } from 'node:stream';

export type DestinationKind = 'local' | 's3' | 'sftp';

export interface PutOptions {
  /** aborting rejects put() with DestinationAbortedError and leaves nothing under the key */
  signal?: AbortSignal;
  /** called with the total bytes taken from the source so far */
  onProgress?: (bytes: number) => void;
}

export interface GetOptions {
  signal?: AbortSignal;
}

export interface StoredObject {
  /** relative to the destination's folder or prefix, '/'-separated */
  key: string;
  size: number;
  modifiedAt: Date;
}

export interface TestResult {
  ok: true;
  /** what was checked, e.g. "wrote, read back and deleted a 64-byte probe in s3://b/p at …" */
  detail: string;
}

export interface BackupDestination {
  readonly kind: DestinationKind;
  /** where it writes, without credentials: fit for logs and the UI */
  readonly where: string;
  /**
   * "Test connection": reach, authenticate, write a small probe object, read it back, delete it.
   * Resolves { ok: true } or rejects with a DestinationError whose `step` names what failed.
   */
  test(): Promise<TestResult>;
  /** Stores SOURCE under KEY atomically: the old object or the whole new one, never part. */
  put(key: string, source: Readable, opts?: PutOptions): Promise<{ bytes: number }>;
  /** Streams the object; rejects with DestinationNotFoundError when there is none. */
  get(key: string, opts?: GetOptions): Promise<Readable>;
  /** Every stored object whose key starts with PREFIX ('' for all), sorted by key; never partial uploads. */
  list(prefix?: string): Promise<StoredObject[]>;
  /** Removes the object; removing a key that does not exist is not an error. */
  delete(key: string): Promise<void>;
  /** Releases connections; the destination may not be used afterwards. */
  close(): Promise<void>;
}

export const PROBE_KEY_PREFIX = '.podploy-probe-';
export const PROBE_BYTES = 64;
