// MySQL/MariaDB dumps and restores through exec in the app's running database container:
// mysqldump (or mariadb-dump, which newer MariaDB images have instead) with a consistent
// snapshot of InnoDB tables; mysql (or mariadb) fed from the stream, into a new database by default.
import type { Readable } from 'node:stream';
import type { PodmanClient } from '../../podman/client';
import { checkName, dbCommand, runDbRestore, type DbRestoreCommands } from './db-command';
import type { ExecCommand } from './exec-process';
import { openExecStream } from './exec-stream';

export const DEFAULT_MYSQL_USER = 'root';
export const MYSQL_DUMP_TOOLS = ['mysqldump', 'mariadb-dump'];
export const MYSQL_CLIENT_TOOLS = ['mysql', 'mariadb'];

export interface MysqlTarget {
  container: string;
  database: string;
  // Default root.
  user?: string;
  // Passed on stdin into MYSQL_PWD, never in argv or in the exec's stored environment.
  password?: string;
  // Or a file in the container holding the password (/run/secrets/NAME), read there.
  passwordFile?: string;
  execUser?: string;
}

export interface MysqlRestoreOptions extends MysqlTarget {
  // 'new' (default): create `database`, refuse an existing one. 'replace': drop and recreate it.
  mode?: 'new' | 'replace';
  signal?: AbortSignal;
}

// The database name alone (not --databases): the dump holds no CREATE DATABASE / USE, so it can
// be restored under another name.
export function mysqlDumpCommand(options: MysqlTarget): ExecCommand {
  const user = checked(options);
  return command(
    options,
    MYSQL_DUMP_TOOLS,
    ['--single-transaction', '--quick', '--routines', '--triggers', '--hex-blob', '--no-tablespaces', '--default-character-set=utf8mb4', `--user=${user}`, '--', options.database],
    `mysqldump of database ${options.database} in container ${options.container}`,
  );
}

export function mysqlRestoreCommands(options: MysqlRestoreOptions): DbRestoreCommands {
  const user = checked(options);
  const db = options.database;
  const where = `database ${db} in container ${options.container}`;
  const sql = (statement: string, what: string) => command(options, MYSQL_CLIENT_TOOLS, [`--user=${user}`, `--execute=${statement}`], what);
  const create = sql(`CREATE DATABASE \`${db}\``, `restore: create ${where}`);
  const drop = sql(`DROP DATABASE IF EXISTS \`${db}\``, `restore: drop ${where}`);
  const restore = command(options, MYSQL_CLIENT_TOOLS, [`--user=${user}`, '--default-character-set=utf8mb4', '--', db], `restore (mysql) of ${where}`);
  if ((options.mode ?? 'new') === 'replace') return { prepare: [drop, create], restore };
  return { prepare: [create], restore, dropOnFailure: drop };
}

export function openMysqlDump(podman: PodmanClient, options: MysqlTarget): Promise<Readable> {
  return openExecStream(podman, mysqlDumpCommand(options));
}

// A failed restore into a new database drops it again.
export function restoreMysql(podman: PodmanClient, input: Readable, options: MysqlRestoreOptions): Promise<void> {
  return runDbRestore(podman, input, mysqlRestoreCommands(options), options.signal);
}

function checked(options: MysqlTarget): string {
  const user = options.user ?? DEFAULT_MYSQL_USER;
  checkName('MySQL database', options.database);
  checkName('MySQL user', user);
  return user;
}

function command(options: MysqlTarget, tools: string[], args: string[], what: string): ExecCommand {
  return dbCommand({ container: options.container, tools, args, passwordVariable: 'MYSQL_PWD', password: options.password, passwordFile: options.passwordFile, user: options.execUser, what });
}
