// SQLite backups and restores through exec in the app's running container (which needs the
// sqlite3 CLI). `sqlite3 DB ".backup /dev/stdout"` does not work (3.40 here: 'cannot open
// "/dev/stdout"', exit 0, no output): the online backup API needs a seekable file. So format
// 'file' runs .backup into a temp file in the container, streams it and removes it (also on
// SIGTERM); format 'sql' streams `.dump` (SQL text, read in one transaction) with no temp file.
import type { Readable } from 'node:stream';
import type { PodmanClient } from '../../podman/client';
import { EXEC_REQUEST_TIMEOUT_MS, runExec } from '../../podman/exec';
import { COMMAND_NOT_FOUND } from './db-command';
import { type ExecCommand, SourceCommandError } from './exec-process';
import { openExecStream, runExecWithInput } from './exec-stream';

export type SqliteFormat = 'file' | 'sql';
// The wrappers' own exit codes: no such database file, or the target exists / fails its check.
export const SQLITE_NO_DATABASE = 66;
export const SQLITE_REFUSED = 65;

export interface SqliteTarget {
  container: string;
  // Absolute path of the database file inside the container.
  file: string;
  execUser?: string;
}

export interface SqliteBackupOptions extends SqliteTarget {
  // Default 'file' (a consistent copy of the database file).
  format?: SqliteFormat;
}

export interface SqliteRestoreOptions extends SqliteTarget {
  format: SqliteFormat;
  // 'new' (default): `file` must not exist. 'replace': swap it in over the existing file (and
  // drop its -wal/-shm/-journal) once the restored copy passes PRAGMA integrity_check.
  mode?: 'new' | 'replace';
  signal?: AbortSignal;
}

const NEEDS_SQLITE = `command -v sqlite3 >/dev/null 2>&1 || { echo "sqlite3: not installed in this container (not on its PATH)" >&2; exit ${COMMAND_NOT_FOUND}; }`;
// sqlite3 would create a missing file and the backup would be an empty database.
const NEEDS_FILE = `[ -f "$1" ] || { echo "no SQLite database file at $1" >&2; exit ${SQLITE_NO_DATABASE}; }`;

const BACKUP_SCRIPTS: Record<SqliteFormat, string> = {
  file: [
    'set -e',
    NEEDS_SQLITE,
    NEEDS_FILE,
    'tmp=$(mktemp "${TMPDIR:-/tmp}/podploy-sqlite-backup.XXXXXX")',
    `trap 'rm -f "$tmp"' EXIT`,
    "trap 'exit 143' TERM INT HUP",
    'sqlite3 -bail "$1" ".backup \\"$tmp\\""',
    'cat "$tmp"',
  ].join('\n'),
  sql: ['set -e', NEEDS_SQLITE, NEEDS_FILE, 'sqlite3 -bail "$1" .dump', `printf 'PRAGMA user_version=%s;\\n' "$(sqlite3 "$1" 'PRAGMA user_version')"`].join('\n'),
};

// $1 target file, $2 mode: refuses before any input is sent (a command that exits while its
// input still flows may lose its stderr in Podman's attach).
const RESTORE_PRECHECK = [
  NEEDS_SQLITE,
  `if [ "$2" = new ] && [ -e "$1" ]; then echo "$1 exists: a restore into a new database file does not touch it; choose another file name" >&2; exit ${SQLITE_REFUSED}; fi`,
  `if [ "$2" = replace ] && [ ! -f "$1" ]; then echo "no SQLite database file at $1 to replace" >&2; exit ${SQLITE_REFUSED}; fi`,
];

// $1 target file, $2 mode. The restored copy is built beside the target (same file system),
// checked, then renamed over it: a failed restore leaves no file behind.
const RESTORE_SCRIPTS: Record<SqliteFormat, string> = Object.fromEntries(
  (['file', 'sql'] as const).map((format) => [
    format,
    [
      'set -e',
      ...RESTORE_PRECHECK,
      'tmp="$1.podploy-restore.$$"',
      `trap 'rm -f "$tmp" "$tmp-journal" "$tmp-wal" "$tmp-shm"' EXIT`,
      "trap 'exit 143' TERM INT HUP",
      format === 'file' ? 'cat > "$tmp"' : 'sqlite3 -bail "$tmp"',
      `check=$(sqlite3 "$tmp" 'PRAGMA integrity_check' 2>&1) || true`,
      `[ "$check" = ok ] || { echo "the restored database fails its integrity check: $check" >&2; exit ${SQLITE_REFUSED}; }`,
      'if [ "$2" = replace ]; then rm -f "$1-wal" "$1-shm" "$1-journal"; fi',
      'mv "$tmp" "$1"',
    ].join('\n'),
  ]),
) as Record<SqliteFormat, string>;

export function sqliteBackupCommand(options: SqliteBackupOptions): ExecCommand {
  const format = options.format ?? 'file';
  return sqliteCommand(options, BACKUP_SCRIPTS[format], [options.file], `SQLite backup (${format}) of ${options.file} in container ${options.container}`);
}

export function sqliteRestoreCommand(options: SqliteRestoreOptions): ExecCommand {
  return sqliteCommand(options, RESTORE_SCRIPTS[options.format], [options.file, options.mode ?? 'new'], `SQLite restore (${options.format}) into ${options.file} in container ${options.container}`);
}

export function openSqliteBackup(podman: PodmanClient, options: SqliteBackupOptions): Promise<Readable> {
  return openExecStream(podman, sqliteBackupCommand(options));
}

export async function restoreSqlite(podman: PodmanClient, input: Readable, options: SqliteRestoreOptions): Promise<void> {
  const command = sqliteRestoreCommand(options);
  const precheck = await runExec(podman, options.container, ['sh', '-c', RESTORE_PRECHECK.join('\n'), 'podploy-sqlite', options.file, options.mode ?? 'new'], {
    user: options.execUser,
    timeoutMs: EXEC_REQUEST_TIMEOUT_MS,
    signal: options.signal,
  }).catch((err: Error) => ({ exitCode: undefined, stderr: err.message }));
  if (precheck.exitCode !== 0) {
    input.destroy();
    const stderr = precheck.stderr.trim();
    const why = precheck.exitCode === undefined ? '' : (command.explainExit?.(precheck.exitCode, stderr) ?? '');
    throw new SourceCommandError(`${command.what} refused${precheck.exitCode === undefined ? '' : ` (exit code ${precheck.exitCode})`}: ${why ? `${why}; ` : ''}${stderr}`, precheck.exitCode, stderr);
  }
  return runExecWithInput(podman, command, input, { signal: options.signal });
}

function sqliteCommand(options: SqliteTarget, script: string, args: string[], what: string): ExecCommand {
  if (!options.file.startsWith('/')) throw new Error(`${what}: the database file must be an absolute path in the container`);
  return {
    container: options.container,
    cmd: ['sh', '-c', script, 'podploy-sqlite', ...args],
    user: options.execUser,
    what,
    explainExit: (code) => (code === COMMAND_NOT_FOUND ? `sqlite3 (or sh) is not installed in container ${options.container}; add the sqlite3 CLI to the image` : undefined),
  };
}
