// PostgreSQL dumps and restores through exec in the app's running database container: pg_dump
// streamed out (plain SQL or custom format); psql or pg_restore fed from the stream, into a new
// database by default.
import type { Readable } from 'node:stream';
import type { PodmanClient } from '../../podman/client';
import { checkName, dbCommand, runDbRestore, type DbRestoreCommands } from './db-command';
import type { ExecCommand } from './exec-process';
import { openExecStream } from './exec-stream';

export const DEFAULT_POSTGRES_USER = 'postgres';

export interface PostgresTarget {
  container: string;
  database: string;
  // The database role; default postgres.
  user?: string;
  // Only when the container's local connections need one; passed on stdin, never in argv or env.
  password?: string;
  // Or a file in the container holding the password (/run/secrets/NAME), read there.
  passwordFile?: string;
  // The container's user to exec as; default its own.
  execUser?: string;
}

export type PostgresDumpFormat = 'plain' | 'custom';

export interface PostgresDumpOptions extends PostgresTarget {
  // plain: SQL text, restored with psql; custom: pg_dump's archive, restored with pg_restore.
  format?: PostgresDumpFormat;
}

export interface PostgresRestoreOptions extends PostgresTarget {
  format: PostgresDumpFormat;
  // 'new' (default): create `database`, refuse an existing one. 'replace': drop and recreate it
  // (stop the app first).
  mode?: 'new' | 'replace';
  signal?: AbortSignal;
}

export function pgDumpCommand(options: PostgresDumpOptions): ExecCommand {
  const user = checked(options);
  const format = options.format ?? 'plain';
  return pgCommand(options, 'pg_dump', [`--username=${user}`, '--no-password', `--format=${format}`, `--dbname=${options.database}`], `pg_dump (${format}) of database ${options.database} in container ${options.container}`);
}

// The commands of a restore, in order: make the database, then feed the dump to it.
export function pgRestoreCommands(options: PostgresRestoreOptions): DbRestoreCommands {
  const user = checked(options);
  const db = options.database;
  const where = `database ${db} in container ${options.container}`;
  const base = [`--username=${user}`, '--no-password'];
  const create = pgCommand(options, 'createdb', [...base, '--', db], `restore: create ${where}`);
  const drop = pgCommand(options, 'dropdb', [...base, '--if-exists', '--', db], `restore: drop ${where}`);
  const restore =
    options.format === 'custom'
      ? pgCommand(options, 'pg_restore', [...base, `--dbname=${db}`, '--single-transaction', '--exit-on-error'], `restore (pg_restore) of ${where}`)
      : pgCommand(options, 'psql', [...base, `--dbname=${db}`, '--single-transaction', '--set=ON_ERROR_STOP=1', '--quiet', '--file=-'], `restore (psql) of ${where}`);
  if ((options.mode ?? 'new') === 'replace') return { prepare: [drop, create], restore };
  return { prepare: [create], restore, dropOnFailure: drop };
}

// Resolves once pg_dump runs; the stream is the dump, and fails with pg_dump's stderr when it
// exits non-zero. Destroying the stream stops pg_dump.
export function openPostgresDump(podman: PodmanClient, options: PostgresDumpOptions): Promise<Readable> {
  return openExecStream(podman, pgDumpCommand(options));
}

// Creates the database (or drops and recreates it), then restores the dump in one transaction.
// A failed restore into a new database drops it again.
export function restorePostgres(podman: PodmanClient, input: Readable, options: PostgresRestoreOptions): Promise<void> {
  return runDbRestore(podman, input, pgRestoreCommands(options), options.signal);
}

function checked(options: PostgresTarget): string {
  const user = options.user ?? DEFAULT_POSTGRES_USER;
  checkName('PostgreSQL database', options.database);
  checkName('PostgreSQL user', user);
  return user;
}

function pgCommand(options: PostgresTarget, tool: string, args: string[], what: string): ExecCommand {
  return dbCommand({ container: options.container, tools: [tool], args, passwordVariable: 'PGPASSWORD', password: options.password, passwordFile: options.passwordFile, user: options.execUser, what });
}
