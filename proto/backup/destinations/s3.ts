// S3-compatible storage (AWS, MinIO, R2, s3rver...). put() is a multipart upload through
// lib-storage's Upload: parts of partSizeMiB, at most S3_UPLOAD_QUEUE parts in flight, so memory
// stays near partSize x (queue + 1) whatever the object's size. A failed or cancelled put aborts
// its multipart upload; when the server cannot be reached for that, the abort is retried on the
// next use of this destination (a bucket lifecycle rule AbortIncompleteMultipartUpload is the
// backstop for an agent that dies meanwhile).
import { pipeline, type Readable } from 'node:stream';
import type { S3Client } from '@aws-sdk/client-s3';
import { ByteCounter } from './byte-counter';
import type { BackupDestination, GetOptions, PutOptions, StoredObject, TestResult } from './destination';
import { DEFAULT_S3_PART_SIZE_MIB, DEFAULT_S3_REGION, describeDestination, type S3DestinationConfig } from './destination-config';
import {
  DestinationAbortedError,
  DestinationAuthError,
  DestinationError,
  DestinationIoError,
  DestinationListingError,
  DestinationNotFoundError,
  DestinationPermissionError,
  DestinationUnreachableError,
  errorText,
} from './errors';
import { checkKey, checkPrefix } from './object-keys';
import { probeDestination } from './probe';

export const S3_UPLOAD_QUEUE = 2;
export const S3_CONNECT_TIMEOUT_MS = 10_000;
/** a connection idle this long is dropped: a server that stopped answering fails the run */
export const S3_SOCKET_IDLE_TIMEOUT_MS = 5 * 60_000;
export const S3_MAX_ATTEMPTS = 3;

type ClientS3 = typeof import('@aws-sdk/client-s3');
type LibStorage = typeof import('@aws-sdk/lib-storage');

interface Connection {
  sdk: ClientS3;
  Upload: LibStorage['Upload'];
  client: S3Client;
}

interface S3Failure {
  name?: string;
  code?: string;
  $metadata?: { httpStatusCode?: number };
}

const PUT_COMMANDS = new Set(['CreateMultipartUploadCommand', 'UploadPartCommand']);
const UNREACHABLE_CODES = new Set(['ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'EPIPE', 'ENOTFOUND', 'EAI_AGAIN', 'EHOSTUNREACH', 'ENETUNREACH', 'ECONNABORTED']);

export class S3Destination implements BackupDestination {
  readonly kind = 's3' as const;
  readonly where: string;
  private readonly prefix: string;
  private connection?: Promise<Connection>;
  /** multipart uploads of failed puts that could not be aborted yet: uploadId -> object key */
  private readonly pendingAborts = new Map<string, string>();
  /** object key of each put in progress -> what to do when one of its requests failed for good */
  private readonly putFailureHandlers = new Map<string, (err: unknown) => void>();

  constructor(private readonly config: S3DestinationConfig) {
    this.where = describeDestination(config);
    const prefix = config.prefix ?? '';
    this.prefix = prefix === '' || prefix.endsWith('/') ? prefix : `${prefix}/`;
  }

  /** Upload ids of failed puts whose multipart upload still waits to be aborted. */
  get incompleteUploads(): string[] {
    return [...this.pendingAborts.keys()];
  }

  test(): Promise<TestResult> {
    return probeDestination(this, async () => {
      const { sdk, client } = await this.connect();
      try {
        await client.send(new sdk.ListObjectsV2Command({ Bucket: this.config.bucket, Prefix: this.prefix, MaxKeys: 1 }));
      } catch (err) {
        throw this.translate(err, 'cannot list the bucket');
      }
    });
  }

  async put(key: string, source: Readable, opts: PutOptions = {}): Promise<{ bytes: number }> {
    const objectKey = this.prefix + checkKey(key);
    const { Upload, client } = await this.connect();
    await this.retryPendingAborts();
    const counter = new ByteCounter(opts.onProgress);
    const body = pipeline(source, counter, () => undefined);
    const cancel = () => body.destroy(Object.assign(new Error('cancelled'), { name: 'AbortError' }));
    // Upload settles only when each of its part uploaders has stopped; one that waits for the
    // source's next bytes would keep a failed put pending, so a failed part ends the source.
    this.putFailureHandlers.set(objectKey, (err) => body.destroy(err instanceof Error ? err : new Error(String(err))));
    if (opts.signal?.aborted) cancel();
    opts.signal?.addEventListener('abort', cancel, { once: true });
    const partSize = (this.config.partSizeMiB ?? DEFAULT_S3_PART_SIZE_MIB) * 1024 * 1024;
    // leavePartsOnError: the abort below is ours, so that it is awaited and retried.
    const upload = new Upload({
      client,
      params: { Bucket: this.config.bucket, Key: objectKey, Body: body, ContentType: 'application/octet-stream' },
      partSize,
      queueSize: S3_UPLOAD_QUEUE,
      leavePartsOnError: true,
    });
    try {
      await upload.done();
      return { bytes: counter.bytes };
    } catch (err) {
      source.destroy();
      const leftover = upload.uploadId ? await this.abortUpload(upload.uploadId, objectKey) : '';
      if (opts.signal?.aborted) throw new DestinationAbortedError(`backup to ${this.where} was cancelled; nothing was stored under ${key}${leftover}`);
      const failure = this.translate(err, `cannot store ${key}`);
      failure.message += leftover;
      throw failure;
    } finally {
      opts.signal?.removeEventListener('abort', cancel);
      this.putFailureHandlers.delete(objectKey);
    }
  }

  async get(key: string, opts: GetOptions = {}): Promise<Readable> {
    const objectKey = this.prefix + checkKey(key);
    const { sdk, client } = await this.connect();
    try {
      const out = await client.send(new sdk.GetObjectCommand({ Bucket: this.config.bucket, Key: objectKey }), { abortSignal: opts.signal });
      if (!out.Body) throw new DestinationIoError(`${this.where} answered ${key} without a body`);
      return out.Body as Readable;
    } catch (err) {
      throw this.translate(err, `cannot read ${key}`);
    }
  }

  async list(prefix = ''): Promise<StoredObject[]> {
    const full = this.prefix + checkPrefix(prefix);
    const { sdk, client } = await this.connect();
    const out: StoredObject[] = [];
    let token: string | undefined;
    do {
      let page;
      try {
        page = await client.send(new sdk.ListObjectsV2Command({ Bucket: this.config.bucket, Prefix: full, ContinuationToken: token }));
      } catch (err) {
        throw this.translate(err, `cannot list ${prefix || 'the prefix'}`);
      }
      for (const item of page.Contents ?? []) {
        if (!item.Key?.startsWith(full) || typeof item.Size !== 'number' || !(item.LastModified instanceof Date)) {
          throw new DestinationListingError(`${this.where} listed an entry that cannot be trusted (${JSON.stringify(item.Key ?? '').slice(0, 200)}: outside the prefix or without size and date): check the server; retention is not applied on such a listing`);
        }
        out.push({ key: item.Key.slice(this.prefix.length), size: item.Size, modifiedAt: item.LastModified });
      }
      if (page.IsTruncated && !page.NextContinuationToken) {
        throw new DestinationListingError(`${this.where} said its listing is truncated but gave no continuation token: the server does not implement ListObjectsV2 correctly`);
      }
      token = page.IsTruncated ? page.NextContinuationToken : undefined;
    } while (token);
    return out.sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
  }

  async delete(key: string): Promise<void> {
    const objectKey = this.prefix + checkKey(key);
    const { sdk, client } = await this.connect();
    try {
      await client.send(new sdk.DeleteObjectCommand({ Bucket: this.config.bucket, Key: objectKey }));
    } catch (err) {
      throw this.translate(err, `cannot delete ${key}`);
    }
  }

  async close(): Promise<void> {
    if (!this.connection) return;
    const { client } = await this.connection;
    await this.retryPendingAborts();
    client.destroy();
    this.connection = undefined;
  }

  // The SDK is loaded on first use: an agent that never backs up to S3 never loads it.
  private connect(): Promise<Connection> {
    this.connection ??= (async () => {
      const [sdk, storage] = await Promise.all([import('@aws-sdk/client-s3'), import('@aws-sdk/lib-storage')]);
      const custom = this.config.endpoint !== undefined;
      const client = new sdk.S3Client({
        region: this.config.region ?? DEFAULT_S3_REGION,
        endpoint: this.config.endpoint,
        forcePathStyle: this.config.forcePathStyle ?? false,
        credentials: { accessKeyId: this.config.accessKeyId, secretAccessKey: this.config.secretAccessKey },
        maxAttempts: S3_MAX_ATTEMPTS,
        // Backups are sealed in authenticated chunks; S3-compatible servers often reject the
        // newer flexible checksums, so they are sent only where an operation requires them.
        ...(custom ? { requestChecksumCalculation: 'WHEN_REQUIRED' as const, responseChecksumValidation: 'WHEN_REQUIRED' as const } : {}),
        requestHandler: { connectionTimeout: S3_CONNECT_TIMEOUT_MS, socketTimeout: S3_SOCKET_IDLE_TIMEOUT_MS },
      });
      client.middlewareStack.add(
        (next, context) => async (args) => {
          try {
            return await next(args);
          } catch (err) {
            const key = (args.input as { Key?: string }).Key;
            if (key !== undefined && PUT_COMMANDS.has(context.commandName ?? '')) this.putFailureHandlers.get(key)?.(err);
            throw err;
          }
        },
        { step: 'initialize', name: 'podployEndPutOnFailure' },
      );
      return { sdk, Upload: storage.Upload, client };
    })();
    return this.connection;
  }

  /** '' when the multipart upload is gone, else a sentence for the error message. */
  private async abortUpload(uploadId: string, objectKey: string): Promise<string> {
    const { sdk, client } = await this.connect();
    try {
      await client.send(new sdk.AbortMultipartUploadCommand({ Bucket: this.config.bucket, Key: objectKey, UploadId: uploadId }));
      this.pendingAborts.delete(uploadId);
      return '';
    } catch (err) {
      if ((err as S3Failure).name === 'NoSuchUpload') {
        this.pendingAborts.delete(uploadId);
        return '';
      }
      this.pendingAborts.set(uploadId, objectKey);
      return `; its incomplete multipart upload could not be removed yet (${errorText(err)}) and is retried on the next use of this destination`;
    }
  }

  private async retryPendingAborts(): Promise<void> {
    for (const [uploadId, objectKey] of [...this.pendingAborts]) await this.abortUpload(uploadId, objectKey);
  }

  private translate(err: unknown, what: string): DestinationError {
    if (err instanceof DestinationError) return err;
    const failure = err as S3Failure;
    const name = failure.name ?? '';
    const status = failure.$metadata?.httpStatusCode;
    const at = `${what} in ${this.where}`;
    if (name === 'AbortError') return new DestinationAbortedError(`${at}: cancelled`);
    if (name === 'InvalidAccessKeyId' || name === 'SignatureDoesNotMatch' || name === 'InvalidToken' || name === 'ExpiredToken') {
      return new DestinationAuthError(`${at}: the server refused the credentials (${name}); check the access key id and secret access key`, err);
    }
    if (name === 'AccessDenied' || status === 403) {
      return new DestinationPermissionError(`${at}: access denied; give the key read, write, list and delete rights on the bucket and prefix`, err);
    }
    if (name === 'NoSuchBucket') return new DestinationNotFoundError(`${at}: the bucket ${this.config.bucket} does not exist; create it or fix its name`, err);
    if (name === 'NoSuchKey' || name === 'NotFound' || status === 404) return new DestinationNotFoundError(`${at}: no such backup object`, err);
    if (UNREACHABLE_CODES.has(failure.code ?? '') || UNREACHABLE_CODES.has(name) || name === 'TimeoutError' || /socket hang up|ECONNRESET|ECONNREFUSED/.test(errorText(err))) {
      return new DestinationUnreachableError(`${at}: the server cannot be reached (${errorText(err)}); check the endpoint, the network and that the server runs`, err);
    }
    return new DestinationIoError(`${at}: ${name ? `${name}: ` : ''}${errorText(err)}`, err);
  }
}
