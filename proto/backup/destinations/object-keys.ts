// Keys are relative, '/'-separated paths. The same rules hold on every destination so that a
// backup can move between them: no absolute paths, no '.' or '..' segments, nothing that could
// be mistaken for a partial upload.
import { InvalidKeyError } from './errors';

export const MAX_KEY_LENGTH = 1024;
/** the infix of a temporary file that a put() renames into place once complete */
export const PARTIAL_INFIX = '.partial-';

export function checkKey(key: string): string {
  const problem = keyProblem(key);
  if (problem) throw new InvalidKeyError(`refused backup key ${JSON.stringify(key.slice(0, 200))}: ${problem}`);
  return key;
}

/** '' (everything) or a key-like prefix; a trailing '/' is allowed. */
export function checkPrefix(prefix: string): string {
  if (prefix === '') return prefix;
  const problem = keyProblem(prefix.endsWith('/') ? prefix.slice(0, -1) : prefix);
  if (problem) throw new InvalidKeyError(`refused listing prefix ${JSON.stringify(prefix.slice(0, 200))}: ${problem}`);
  return prefix;
}

function keyProblem(key: string): string | null {
  if (typeof key !== 'string' || key.length === 0) return 'a key must be a non-empty relative path';
  if (key.length > MAX_KEY_LENGTH) return `a key is at most ${MAX_KEY_LENGTH} characters`;
  if (key.startsWith('/')) return 'a key is relative to the destination, it must not start with "/"';
  if (/[\\\0-\x1f\x7f]/.test(key)) return 'a key must not contain backslashes or control characters';
  for (const segment of key.split('/')) {
    if (segment === '') return 'a key must not contain empty segments ("//" or a trailing "/")';
    if (segment === '.' || segment === '..') return 'a key must not contain "." or ".." segments (it would leave the destination folder)';
    if (segment.includes(PARTIAL_INFIX)) return `a key must not contain "${PARTIAL_INFIX}" (reserved for uploads in progress)`;
  }
  return null;
}

export function isPartialName(name: string): boolean {
  return name.includes(PARTIAL_INFIX);
}
