// A backup that cannot be trusted: refused, never restored. `detected` names what was found.
export type IntegrityProblem = 'wrong_key' | 'tampered' | 'truncated' | 'reordered' | 'format' | 'manifest' | 'checksum' | 'size';

export class BackupIntegrityError extends Error {
  readonly code = 'integrity' as const;

  constructor(
    readonly detected: IntegrityProblem,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = 'BackupIntegrityError';
  }
}
