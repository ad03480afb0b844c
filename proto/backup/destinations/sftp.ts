// An SFTP server (ssh2). The server's host key must match the configured SHA256 fingerprint.
// put() writes KEY.partial-<random>, fsyncs it (fsync@openssh.com when offered), and renames it
// over KEY (posix-rename@openssh.com when offered, else remove then rename). A partial file that
// could not be removed because the connection dropped is removed on the next use.
import { createHash, randomBytes } from 'node:crypto';
import { posix } from 'node:path';
import { addAbortSignal, type Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { Client, type ConnectConfig, type FileEntryWithStats, type SFTPWrapper, type Stats } from 'ssh2';
import { ByteCounter } from './byte-counter';
import type { BackupDestination, GetOptions, PutOptions, StoredObject, TestResult } from './destination';
import { DEFAULT_SFTP_PORT, describeDestination, type SftpDestinationConfig } from './destination-config';
import {
  DestinationAbortedError,
  DestinationAuthError,
  DestinationConfigError,
  DestinationError,
  DestinationIoError,
  DestinationListingError,
  DestinationNotFoundError,
  DestinationPermissionError,
  DestinationUnreachableError,
  errorText,
  HostKeyMismatchError,
} from './errors';
import { checkKey, checkPrefix, isPartialName, PARTIAL_INFIX } from './object-keys';
import { probeDestination } from './probe';
import { SftpFileWriter } from './sftp-file-writer';

export const SFTP_READY_TIMEOUT_MS = 15_000;
export const SFTP_KEEPALIVE_MS = 10_000;
export const SFTP_KEEPALIVE_COUNT_MAX = 3;
export const SFTP_DIR_MODE = 0o700;
export const SFTP_FILE_MODE = 0o600;

// SFTP status codes (draft-ietf-secsh-filexfer-02)
const NO_SUCH_FILE = 2;
const PERMISSION_DENIED = 3;
const S_IFMT = 0o170000;
const S_IFDIR = 0o040000;
const S_IFREG = 0o100000;

interface Session {
  client: Client;
  sftp: SFTPWrapper;
  /** absolute remote folder */
  folder: string;
  open: boolean;
}

type SftpFailure = Error & { code?: number | string; level?: string };

export function hostKeyFingerprint(keyBlob: Buffer): string {
  return `SHA256:${createHash('sha256').update(keyBlob).digest('base64').replace(/=+$/, '')}`;
}

export class SftpDestination implements BackupDestination {
  readonly kind = 'sftp' as const;
  readonly where: string;
  private session?: Promise<Session>;
  /** partial files of failed puts left on the server while it was unreachable */
  private readonly pendingRemovals = new Set<string>();

  constructor(private readonly config: SftpDestinationConfig) {
    this.where = describeDestination(config);
  }

  /** Remote paths of partial files that wait to be removed. */
  get leftoverPartials(): string[] {
    return [...this.pendingRemovals];
  }

  test(): Promise<TestResult> {
    return probeDestination(this, async () => {
      await this.connect();
    });
  }

  async put(key: string, source: Readable, opts: PutOptions = {}): Promise<{ bytes: number }> {
    checkKey(key);
    let session: Session;
    try {
      session = await this.connect();
    } catch (err) {
      source.destroy();
      throw err;
    }
    const { sftp } = session;
    const target = posix.join(session.folder, key);
    const partial = `${target}${PARTIAL_INFIX}${randomBytes(6).toString('hex')}`;
    const counter = new ByteCounter(opts.onProgress);
    let handle: Buffer | undefined;
    try {
      await this.mkdirs(session, posix.dirname(target));
      handle = await call<Buffer>((cb) => sftp.open(partial, 'w', { mode: SFTP_FILE_MODE }, cb));
      await pipeline(source, counter, new SftpFileWriter(sftp, handle, () => session.open), { signal: opts.signal });
      if (supports(sftp, 'fsync@openssh.com')) await call((cb) => sftp.ext_openssh_fsync(handle!, cb));
      const closing = handle;
      handle = undefined;
      await call((cb) => sftp.close(closing, cb));
      await this.renameOver(sftp, partial, target);
      return { bytes: counter.bytes };
    } catch (err) {
      source.destroy();
      const leftover = await this.removePartial(session, partial, handle);
      if (opts.signal?.aborted) throw new DestinationAbortedError(`backup to ${this.where} was cancelled; nothing was stored under ${key}${leftover}`);
      const failure = this.translate(err, `cannot store ${key}`, session);
      failure.message += leftover;
      throw failure;
    }
  }

  async get(key: string, opts: GetOptions = {}): Promise<Readable> {
    checkKey(key);
    const session = await this.connect();
    const path = posix.join(session.folder, key);
    try {
      const stats = await call<Stats>((cb) => session.sftp.stat(path, cb));
      if ((stats.mode & S_IFMT) !== S_IFREG) throw Object.assign(new Error('not a regular file'), { code: NO_SUCH_FILE });
    } catch (err) {
      throw this.translate(err, `cannot read ${key}`, session);
    }
    const stream = session.sftp.createReadStream(path) as unknown as Readable;
    return opts.signal ? addAbortSignal(opts.signal, stream) : stream;
  }

  async list(prefix = ''): Promise<StoredObject[]> {
    checkPrefix(prefix);
    const session = await this.connect();
    const start = prefix.includes('/') ? prefix.slice(0, prefix.lastIndexOf('/')) : '';
    const out: StoredObject[] = [];
    const walk = async (rel: string): Promise<void> => {
      let entries: FileEntryWithStats[];
      try {
        entries = await call<FileEntryWithStats[]>((cb) => session.sftp.readdir(rel ? posix.join(session.folder, rel) : session.folder, cb));
      } catch (err) {
        if ((err as SftpFailure).code === NO_SUCH_FILE) return;
        throw err;
      }
      for (const entry of entries) {
        if (entry.filename === '.' || entry.filename === '..') continue;
        const key = rel ? `${rel}/${entry.filename}` : entry.filename;
        const { mode, size, mtime } = entry.attrs ?? {};
        if (typeof mode !== 'number') throw new DestinationListingError(`${this.where} listed ${key} without its attributes: the server's listing cannot be trusted; check the SFTP server`);
        if ((mode & S_IFMT) === S_IFDIR) {
          if (prefix.startsWith(`${key}/`) || key.startsWith(prefix)) await walk(key);
        } else if ((mode & S_IFMT) === S_IFREG && key.startsWith(prefix) && !isPartialName(entry.filename)) {
          if (typeof size !== 'number' || typeof mtime !== 'number') {
            throw new DestinationListingError(`${this.where} listed ${key} without size or modification time: the server's listing cannot be trusted; check the SFTP server`);
          }
          out.push({ key, size, modifiedAt: new Date(mtime * 1000) });
        }
      }
    };
    try {
      await walk(start);
    } catch (err) {
      throw this.translate(err, `cannot list ${prefix || 'the folder'}`, session);
    }
    return out.sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
  }

  async delete(key: string): Promise<void> {
    checkKey(key);
    const session = await this.connect();
    const path = posix.join(session.folder, key);
    // Also what an upload of the key left when its writer died (KEY.partial-*).
    const names = await call<{ filename: string }[]>((cb) => session.sftp.readdir(posix.dirname(path), cb)).catch(() => []);
    const leftovers = names.map((e) => e.filename).filter((n) => n.startsWith(`${posix.basename(path)}${PARTIAL_INFIX}`));
    for (const victim of [path, ...leftovers.map((n) => posix.join(posix.dirname(path), n))]) {
      try {
        await call((cb) => session.sftp.unlink(victim, cb));
      } catch (err) {
        if ((err as SftpFailure).code !== NO_SUCH_FILE) throw this.translate(err, `cannot delete ${key}`, session);
      }
    }
    // Retention removes dated folders' worth of keys; empty folders go with them.
    for (let dir = posix.dirname(path); dir.startsWith(`${session.folder}/`); dir = posix.dirname(dir)) {
      const removed = await call((cb) => session.sftp.rmdir(dir, cb)).then(
        () => true,
        () => false,
      );
      if (!removed) break;
    }
  }

  async close(): Promise<void> {
    const pending = this.session;
    this.session = undefined;
    if (!pending) return;
    const session = await pending.catch(() => null);
    if (session?.open) session.client.end();
  }

  private connect(): Promise<Session> {
    const current = this.session;
    if (current) return current.then((s) => (s.open ? s : this.reconnect(current)));
    return this.reconnect(undefined);
  }

  private reconnect(stale: Promise<Session> | undefined): Promise<Session> {
    if (this.session !== stale) return this.connect();
    const opening = this.open().then(async (session) => {
      for (const path of [...this.pendingRemovals]) await this.removePartial(session, path, undefined);
      return session;
    });
    this.session = opening;
    opening.catch(() => {
      if (this.session === opening) this.session = undefined;
    });
    return opening;
  }

  private open(): Promise<Session> {
    const { config } = this;
    return new Promise((resolve, reject) => {
      const client = new Client();
      let seen: string | undefined;
      let refused: DestinationError | undefined;
      let settled = false;
      const fail = (err: DestinationError) => {
        if (settled) return;
        settled = true;
        client.end();
        reject(err);
      };
      const connectConfig: ConnectConfig = {
        host: config.host,
        port: config.port ?? DEFAULT_SFTP_PORT,
        username: config.user,
        readyTimeout: SFTP_READY_TIMEOUT_MS,
        keepaliveInterval: SFTP_KEEPALIVE_MS,
        keepaliveCountMax: SFTP_KEEPALIVE_COUNT_MAX,
        hostVerifier: (key: Buffer) => {
          seen = hostKeyFingerprint(key);
          if (seen === config.hostKeyFingerprint) return true;
          refused = new HostKeyMismatchError(
            `${this.where}: the server's host key is ${seen}, not the configured ${config.hostKeyFingerprint}; refusing to connect. If the server's key was changed on purpose, check it on the server (ssh-keygen -lf /etc/ssh/ssh_host_ed25519_key.pub) and update the destination`,
            seen,
          );
          return false;
        },
      };
      if (config.privateKey) connectConfig.privateKey = config.privateKey;
      if (config.passphrase) connectConfig.passphrase = config.passphrase;
      if (config.password) connectConfig.password = config.password;
      client.on('ready', () => {
        client.sftp(async (err, sftp) => {
          if (err) return fail(new DestinationIoError(`${this.where}: the server does not offer SFTP (${err.message}); enable the sftp subsystem in sshd_config`, err));
          const session: Session = { client, sftp, folder: '', open: true };
          client.on('close', () => (session.open = false));
          sftp.on('close', () => (session.open = false));
          try {
            session.folder = await this.prepareFolder(session);
          } catch (e) {
            return fail(this.translate(e, 'cannot prepare the remote folder', session));
          }
          if (settled) return;
          settled = true;
          resolve(session);
        });
      });
      client.on('error', (err: SftpFailure) => {
        if (refused) return fail(refused);
        if (err.level === 'client-authentication') {
          return fail(new DestinationAuthError(`${this.where}: the server refused the login of ${config.user} (${err.message}); check the user and its private key or password`, err));
        }
        fail(new DestinationUnreachableError(`${this.where}: cannot connect (${err.message}); check the host, the port and that sshd runs`, err));
      });
      client.on('close', () => fail(refused ?? new DestinationUnreachableError(`${this.where}: the connection closed before SFTP was ready; check that sshd runs on that port`)));
      try {
        client.connect(connectConfig);
      } catch (err) {
        fail(new DestinationConfigError(`${this.where}: cannot use the SSH credentials (${errorText(err)}); give an OpenSSH or PEM private key and its passphrase`));
      }
    });
  }

  private async prepareFolder(session: Session): Promise<string> {
    const home = await call<string>((cb) => session.sftp.realpath('.', cb));
    const folder = posix.resolve(home, this.config.folder);
    await this.mkdirs(session, folder);
    return folder;
  }

  private async mkdirs(session: Session, folder: string): Promise<void> {
    const missing: string[] = [];
    for (let dir = folder; dir !== '/'; dir = posix.dirname(dir)) {
      try {
        const stats = await call<Stats>((cb) => session.sftp.stat(dir, cb));
        if ((stats.mode & S_IFMT) !== S_IFDIR) throw new DestinationIoError(`${this.where}: ${dir} exists and is not a folder; remove it or choose another folder`);
        break;
      } catch (err) {
        if ((err as SftpFailure).code !== NO_SUCH_FILE) throw err;
        missing.unshift(dir);
      }
    }
    for (const dir of missing) {
      await call((cb) => session.sftp.mkdir(dir, { mode: SFTP_DIR_MODE }, cb)).catch(async (err) => {
        // another put may have created it meanwhile
        const exists = await call<Stats>((cb) => session.sftp.stat(dir, cb)).then(
          (s) => (s.mode & S_IFMT) === S_IFDIR,
          () => false,
        );
        if (!exists) throw err;
      });
    }
  }

  private async renameOver(sftp: SFTPWrapper, from: string, to: string): Promise<void> {
    if (supports(sftp, 'posix-rename@openssh.com')) {
      await call((cb) => sftp.ext_openssh_rename(from, to, cb));
      return;
    }
    // Plain SFTP rename refuses an existing target: between the two calls no object is under KEY.
    await call((cb) => sftp.unlink(to, cb)).catch((err: SftpFailure) => {
      if (err.code !== NO_SUCH_FILE) throw err;
    });
    await call((cb) => sftp.rename(from, to, cb));
  }

  /** '' when the partial file is gone, else a sentence for the error message. */
  private async removePartial(session: Session, path: string, handle: Buffer | undefined): Promise<string> {
    if (session.open) {
      try {
        if (handle) await call((cb) => session.sftp.close(handle, cb)).catch(() => undefined);
        await call((cb) => session.sftp.unlink(path, cb)).catch((err: SftpFailure) => {
          if (err.code !== NO_SUCH_FILE) throw err;
        });
        this.pendingRemovals.delete(path);
        return '';
      } catch {
        // kept below
      }
    }
    this.pendingRemovals.add(path);
    return `; the partial file ${path} could not be removed yet and is removed on the next use of this destination`;
  }

  private translate(err: unknown, what: string, session: Session): DestinationError {
    if (err instanceof DestinationError) return err;
    const at = `${what} in ${this.where}`;
    const failure = err as SftpFailure;
    if (failure.name === 'AbortError') return new DestinationAbortedError(`${at}: cancelled`);
    if (!session.open) return new DestinationUnreachableError(`${at}: the connection to the server was lost (${errorText(err)}); check the network and that sshd runs`, err);
    if (failure.code === NO_SUCH_FILE) return new DestinationNotFoundError(`${at}: no such file on the server`, err);
    if (failure.code === PERMISSION_DENIED) return new DestinationPermissionError(`${at}: permission denied; let ${this.config.user} write the folder ${this.config.folder}`, err);
    return new DestinationIoError(`${at}: ${errorText(err)}`, err);
  }
}

function supports(sftp: SFTPWrapper, extension: string): boolean {
  return (sftp as unknown as { _extensions?: Record<string, string> })._extensions?.[extension] !== undefined;
}

function call<T = void>(run: (cb: (err: Error | null | undefined, value: T) => void) => void): Promise<T> {
  return new Promise((resolve, reject) => {
    try {
      run((err, value) => (err ? reject(err) : resolve(value)));
    } catch (err) {
      reject(err);
    }
  });
}
