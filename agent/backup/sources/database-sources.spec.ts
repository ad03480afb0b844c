// Database dumps and restores through exec against a REAL rootful Podman REST socket started
// here: PostgreSQL 15 and sqlite3 from Debian's packages in localhost/podploy-test-postgres
// (test/images/build-test-postgres.sh), and the busybox test app for the "tool missing" paths.
// MySQL/MariaDB is not installed here: its commands are asserted and its missing-tool path run.
import { execFileSync, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PodmanClient } from '../../podman/client';
import { createContainer, podployLabels, startContainer } from '../../podman/containers';
import { runExec } from '../../podman/exec';
import { startPodmanService, stopPodmanService } from '../../podman/podman-test-service';
import { SourceCommandError } from './exec-process';
import { mysqlDumpCommand, mysqlRestoreCommands, openMysqlDump } from './mysql-source';
import { openPostgresDump, pgDumpCommand, restorePostgres } from './postgres-source';
import { openSqliteBackup, restoreSqlite } from './sqlite-source';

const TEST_APP = 'localhost/podploy-test-app:latest';
const TEST_POSTGRES = 'localhost/podploy-test-postgres:latest';
const BUILD_POSTGRES = join(import.meta.dirname, '..', '..', '..', 'test', 'images', 'build-test-postgres.sh');
const run = randomBytes(4).toString('hex');
const APP = `ppdb-${run}`;
const socket = `/tmp/pp-podman-db-${run}.sock`;
const podman = new PodmanClient(socket);
const PG = `${APP}-pg`;
const WEB = `${APP}-web`;
const STOPPED = `${APP}-stopped`;
let service: ChildProcess | undefined;

async function sh(container: string, script: string): Promise<string> {
  const r = await runExec(podman, container, ['sh', '-c', script], { timeoutMs: 60_000, maxOutputBytes: 1024 * 1024 });
  if (r.exitCode !== 0) throw new Error(`${script} failed (${r.exitCode}): ${r.stderr}`);
  return r.stdout.trim();
}
const psql = (db: string, sql: string) => sh(PG, `psql -X -A -t -v ON_ERROR_STOP=1 -d ${db} -c "${sql}"`);
const fingerprint = (db: string) => psql(db, 'SELECT count(*) || \' \' || md5(string_agg(id || \':\' || name || \':\' || price, \',\' ORDER BY id)) FROM items');
const databases = async () => (await psql('postgres', 'SELECT datname FROM pg_database ORDER BY 1')).split('\n');
const failure = (work: Promise<unknown>) => work.then(() => undefined, (e: unknown) => e as Error);
async function drain(stream: Readable): Promise<number> {
  let n = 0;
  for await (const c of stream) n += (c as Buffer).length;
  return n;
}

beforeAll(async () => {
  service = await startPodmanService(socket);
  execFileSync('bash', [BUILD_POSTGRES], { stdio: 'pipe' });
  const labels = (slot: string) => podployLabels({ app: APP, release: 'r1', slot });
  await createContainer(podman, { name: PG, image: TEST_POSTGRES, labels: labels('pg'), stopGraceSeconds: 5 });
  await createContainer(podman, { name: WEB, image: TEST_APP, labels: labels('web'), stopGraceSeconds: 1 });
  await createContainer(podman, { name: STOPPED, image: TEST_APP, labels: labels('stopped') });
  await startContainer(podman, PG);
  await startContainer(podman, WEB);
  const deadline = Date.now() + 30_000;
  while ((await runExec(podman, PG, ['pg_isready', '-q'], { timeoutMs: 5_000 }).catch(() => ({ exitCode: -1 }))).exitCode !== 0) {
    if (Date.now() > deadline) throw new Error('PostgreSQL did not become ready');
    await new Promise((r) => setTimeout(r, 200));
  }
  await psql('postgres', 'CREATE DATABASE shop');
  await psql('shop', "CREATE TABLE items (id serial PRIMARY KEY, name text NOT NULL, price numeric(10,2)); INSERT INTO items (name, price) SELECT 'item ' || g || ' ''quoted'' ✓ ' || repeat('x', g % 200), g * 1.25 FROM generate_series(1, 100000) g");
}, 180_000);

afterAll(async () => {
  await stopPodmanService(service, socket, { app: APP });
}, 60_000);

describe('PostgreSQL', () => {
  it('dumps a running database (plain SQL) and restores it into a new database with the same rows', async () => {
    const expected = await fingerprint('shop');
    expect(expected).toMatch(/^100000 [0-9a-f]{32}$/);
    await restorePostgres(podman, await openPostgresDump(podman, { container: PG, database: 'shop' }), { container: PG, database: 'shop_plain', format: 'plain' });
    expect(await fingerprint('shop_plain')).toBe(expected);
  });

  it('does the same in custom format through pg_restore', async () => {
    await restorePostgres(podman, await openPostgresDump(podman, { container: PG, database: 'shop', format: 'custom' }), { container: PG, database: 'shop_custom', format: 'custom' });
    expect(await fingerprint('shop_custom')).toBe(await fingerprint('shop'));
  });

  it('replaces an existing database when asked', async () => {
    await psql('postgres', 'CREATE DATABASE shop_replace');
    await psql('shop_replace', 'CREATE TABLE leftover (x int)');
    // Dumped first, as a restore reads a stored backup: a pg_dump stream of this server left
    // unread would block DROP DATABASE (PostgreSQL 15 waits for every backend to absorb a barrier).
    const chunks: Buffer[] = [];
    for await (const c of await openPostgresDump(podman, { container: PG, database: 'shop' })) chunks.push(c as Buffer);
    await restorePostgres(podman, Readable.from(chunks), { container: PG, database: 'shop_replace', format: 'plain', mode: 'replace' });
    expect(await fingerprint('shop_replace')).toBe(await fingerprint('shop'));
    expect(await psql('shop_replace', "SELECT count(*) FROM pg_tables WHERE tablename = 'leftover'")).toBe('0');
  });

  it('refuses to restore into an existing database by default', async () => {
    const input = Readable.from([Buffer.from('SELECT 1;\n')]);
    const err = await failure(restorePostgres(podman, input, { container: PG, database: 'shop', format: 'plain' }));
    expect(err).toBeInstanceOf(SourceCommandError);
    expect(err?.message).toMatch(/^restore: create database shop in container .+ failed with exit code 1; its stderr ends with: createdb: error: database creation failed: ERROR:  database "shop" already exists$/);
    expect(input.destroyed).toBe(true);
    expect(await fingerprint('shop')).toMatch(/^100000 /);
  });

  it('fails with pg_dump\'s exit code and stderr for a database that does not exist', async () => {
    const dump = await openPostgresDump(podman, { container: PG, database: 'nope' });
    const err = await failure(drain(dump));
    expect(err?.message).toBe(`pg_dump (plain) of database nope in container ${PG} failed with exit code 1; its stderr ends with: pg_dump: error: connection to server on socket "/run/postgresql/.s.PGSQL.5432" failed: FATAL:  database "nope" does not exist`);
    expect((err as SourceCommandError).exitCode).toBe(1);
  });

  it('stops pg_dump when the stream is destroyed mid-way', async () => {
    const dump = await openPostgresDump(podman, { container: PG, database: 'shop' });
    await new Promise((r) => dump.once('readable', r));
    dump.destroy();
    await new Promise((r) => dump.once('close', r));
    expect(await sh(PG, 'ps -o comm')).not.toContain('pg_dump');
  });

  it('kills psql (nothing committed) when the input fails mid-way, and drops the new database', async () => {
    const dump = await openPostgresDump(podman, { container: PG, database: 'shop' });
    async function* failingAfter1MiB(): AsyncGenerator<Buffer> {
      let sent = 0;
      for await (const c of dump) {
        sent += (c as Buffer).length;
        if (sent > 1024 * 1024) throw new Error('the destination connection reset');
        yield c as Buffer;
      }
    }
    const err = await failure(restorePostgres(podman, Readable.from(failingAfter1MiB()), { container: PG, database: 'shop_broken', format: 'plain' }));
    expect(err?.message).toBe(`restore (psql) of database shop_broken in container ${PG}: its input failed: the destination connection reset; the command was stopped before the end of its input`);
    expect(await databases()).not.toContain('shop_broken');
    // The abandoned dump is stopped too: SIGTERM to its process group, SIGKILL 2 s later.
    const until = Date.now() + 5_000;
    while (/psql|pg_dump/.test(await sh(PG, 'ps -o comm')) && Date.now() < until) await new Promise((r) => setTimeout(r, 100));
    expect(await sh(PG, 'ps -o comm')).not.toMatch(/psql|pg_dump/);
  });

  it('fails clearly in a stopped container and in one without pg_dump', async () => {
    const stopped = await failure(openPostgresDump(podman, { container: STOPPED, database: 'shop' }));
    expect(stopped).toBeInstanceOf(SourceCommandError);
    expect(stopped?.message).toMatch(new RegExp(`^pg_dump \\(plain\\) of database shop in container ${STOPPED}: could not start: container ${STOPPED}: exec .*: .*(not running|state improper)`));
    const missing = await failure(drain(await openPostgresDump(podman, { container: WEB, database: 'shop' })));
    expect(missing?.message).toBe(
      `pg_dump (plain) of database shop in container ${WEB} failed with exit code 127: pg_dump (or sh) is not installed in container ${WEB}; dump with a container that has the database's client tools; its stderr ends with: pg_dump: not installed in this container (not on its PATH)`,
    );
  });

  it('passes a password on stdin, never in the command line', () => {
    const c = pgDumpCommand({ container: PG, database: 'shop', password: 's3cret' });
    expect(c.cmd.join(' ')).not.toContain('s3cret');
    expect(c.stdinPrefix?.toString()).toBe('s3cret\n');
    expect(c.cmd.slice(3)).toEqual(['pg_dump', '--username=postgres', '--no-password', '--format=plain', '--dbname=shop']);
    expect(() => pgDumpCommand({ container: PG, database: 'shop; DROP', user: 'postgres' })).toThrow('PostgreSQL database "shop; DROP" is not a plain name');
  });

  it('dumps with a password through the stdin wrapper (trust auth ignores it)', async () => {
    const bytes = await drain(await openPostgresDump(podman, { container: PG, database: 'shop', password: 'not-needed' }));
    expect(bytes).toBeGreaterThan(1024 * 1024);
  });
});

describe('SQLite', () => {
  const DB = '/tmp/app.db';
  const content = (file: string) => sh(PG, `sqlite3 ${file} "PRAGMA user_version; SELECT count(*), sum(length(body)) FROM notes; SELECT body FROM notes WHERE id = 7"`);

  beforeAll(async () => {
    await sh(PG, `sqlite3 ${DB} "PRAGMA journal_mode=WAL; PRAGMA user_version=42; CREATE TABLE notes (id INTEGER PRIMARY KEY, body TEXT); WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 5000) INSERT INTO notes (body) SELECT 'note ' || i || ' ✓ ' || hex(randomblob(50)) FROM n"`);
  });

  for (const format of ['file', 'sql'] as const) {
    it(`backs up a live database (${format}) and restores it into a new file`, async () => {
      const target = `/tmp/restored-${format}.db`;
      await restoreSqlite(podman, await openSqliteBackup(podman, { container: PG, file: DB, format }), { container: PG, file: target, format });
      const expected = await content(DB);
      expect(expected).toMatch(/^42\n5000\|/);
      expect(await content(target)).toBe(expected);
      expect(await sh(PG, 'ls /tmp')).not.toMatch(/podploy-sqlite-backup|podploy-restore/);
    });
  }

  it('refuses an existing target file and leaves it alone', async () => {
    const err = await failure(restoreSqlite(podman, await openSqliteBackup(podman, { container: PG, file: DB }), { container: PG, file: DB, format: 'file' }));
    expect(err?.message).toBe(`SQLite restore (file) into ${DB} in container ${PG} refused (exit code 65): ${DB} exists: a restore into a new database file does not touch it; choose another file name`);
    expect(await content(DB)).toMatch(/^42\n5000\|/);
  });

  it('refuses a truncated database file (integrity check) and leaves no file', async () => {
    async function* firstHalf(): AsyncGenerator<Buffer> {
      const dump = await openSqliteBackup(podman, { container: PG, file: DB });
      const chunks: Buffer[] = [];
      for await (const c of dump) chunks.push(c as Buffer);
      const all = Buffer.concat(chunks);
      yield all.subarray(0, all.length / 2);
    }
    const err = await failure(restoreSqlite(podman, Readable.from(firstHalf()), { container: PG, file: '/tmp/truncated.db', format: 'file' }));
    expect(err?.message).toMatch(/failed with exit code 65; its stderr ends with: the restored database fails its integrity check/);
    expect(await sh(PG, "ls -a /tmp")).not.toMatch(/truncated/);
  });

  it('says when the database file is missing (instead of backing up an empty one) and when sqlite3 is missing', async () => {
    const missingFile = await failure(drain(await openSqliteBackup(podman, { container: PG, file: '/tmp/nope.db' })));
    expect(missingFile?.message).toBe(`SQLite backup (file) of /tmp/nope.db in container ${PG} failed with exit code 66; its stderr ends with: no SQLite database file at /tmp/nope.db`);
    expect(await sh(PG, 'ls /tmp')).not.toContain('nope.db');
    const noCli = await failure(drain(await openSqliteBackup(podman, { container: WEB, file: DB })));
    expect(noCli?.message).toBe(
      `SQLite backup (file) of ${DB} in container ${WEB} failed with exit code 127: sqlite3 (or sh) is not installed in container ${WEB}; add the sqlite3 CLI to the image; its stderr ends with: sqlite3: not installed in this container (not on its PATH)`,
    );
  });
});

describe('MySQL/MariaDB (no server here: commands and the missing-tool path)', () => {
  it('builds mysqldump with a consistent snapshot, no CREATE DATABASE, the password on stdin', () => {
    const c = mysqlDumpCommand({ container: 'db-1', database: 'shop', user: 'app', password: 'pw' });
    expect(c.cmd.slice(0, 2)).toEqual(['sh', '-c']);
    expect(c.cmd[2]).toContain('for tool in mysqldump mariadb-dump; do');
    expect(c.cmd[2]).toContain('IFS= read -r MYSQL_PWD');
    expect(c.cmd.slice(3)).toEqual(['mysqldump', '--single-transaction', '--quick', '--routines', '--triggers', '--hex-blob', '--no-tablespaces', '--default-character-set=utf8mb4', '--user=app', '--', 'shop']);
    expect(c.cmd.join(' ')).not.toContain('pw ');
    expect(c.stdinPrefix?.toString()).toBe('pw\n');
  });

  it('restores into a new database by default, and drops and recreates it to replace', () => {
    const fresh = mysqlRestoreCommands({ container: 'db-1', database: 'shop_restored' });
    expect(fresh.prepare.map((c) => c.cmd.slice(3))).toEqual([['mysql', '--user=root', '--execute=CREATE DATABASE `shop_restored`']]);
    expect(fresh.restore.cmd.slice(3)).toEqual(['mysql', '--user=root', '--default-character-set=utf8mb4', '--', 'shop_restored']);
    expect(fresh.dropOnFailure?.cmd.slice(3)).toEqual(['mysql', '--user=root', '--execute=DROP DATABASE IF EXISTS `shop_restored`']);
    const replace = mysqlRestoreCommands({ container: 'db-1', database: 'shop', mode: 'replace' });
    expect(replace.prepare.map((c) => c.cmd[5])).toEqual(['--execute=DROP DATABASE IF EXISTS `shop`', '--execute=CREATE DATABASE `shop`']);
    expect(replace.dropOnFailure).toBeUndefined();
    expect(() => mysqlRestoreCommands({ container: 'db-1', database: 'a`b' })).toThrow('is not a plain name');
  });

  it('fails clearly in a container without mysqldump or mariadb-dump', async () => {
    const err = await failure(drain(await openMysqlDump(podman, { container: WEB, database: 'shop' })));
    expect(err?.message).toBe(
      `mysqldump of database shop in container ${WEB} failed with exit code 127: mysqldump or mariadb-dump (or sh) is not installed in container ${WEB}; dump with a container that has the database's client tools; its stderr ends with: mysqldump or mariadb-dump: not installed in this container (not on its PATH)`,
    );
  });
});
