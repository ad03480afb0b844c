// Every failure of a backup destination is a DestinationError: `code` tells the run orchestrator
// what kind of failure it is, the message says what failed and what to check. Messages never
// carry credentials.

export type DestinationErrorCode =
  | 'invalid_config'
  | 'invalid_key'
  | 'unreachable'
  | 'auth'
  | 'host_key'
  | 'permission'
  | 'not_found'
  | 'listing'
  | 'aborted'
  | 'io';

/** The step of test() ("test connection") that failed. */
export type ProbeStep = 'reach' | 'authenticate' | 'write' | 'read' | 'delete';

export class DestinationError extends Error {
  /** set by test() to the step that failed */
  step?: ProbeStep;

  constructor(
    readonly code: DestinationErrorCode,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = new.target.name;
  }
}

export class DestinationConfigError extends DestinationError {
  constructor(message: string) {
    super('invalid_config', message);
  }
}

export class InvalidKeyError extends DestinationError {
  constructor(message: string) {
    super('invalid_key', message);
  }
}

export class DestinationUnreachableError extends DestinationError {
  constructor(message: string, cause?: unknown) {
    super('unreachable', message, { cause });
  }
}

export class DestinationAuthError extends DestinationError {
  constructor(message: string, cause?: unknown) {
    super('auth', message, { cause });
  }
}

export class HostKeyMismatchError extends DestinationError {
  constructor(
    message: string,
    readonly seenFingerprint: string,
  ) {
    super('host_key', message);
  }
}

export class DestinationPermissionError extends DestinationError {
  constructor(message: string, cause?: unknown) {
    super('permission', message, { cause });
  }
}

export class DestinationNotFoundError extends DestinationError {
  constructor(message: string, cause?: unknown) {
    super('not_found', message, { cause });
  }
}

/** The destination answered a listing that cannot be trusted (truncated, keys outside the prefix, missing sizes). */
export class DestinationListingError extends DestinationError {
  constructor(message: string) {
    super('listing', message);
  }
}

export class DestinationAbortedError extends DestinationError {
  constructor(message: string) {
    super('aborted', message);
  }
}

export class DestinationIoError extends DestinationError {
  constructor(message: string, cause?: unknown) {
    super('io', message, { cause });
  }
}

export function errorText(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
