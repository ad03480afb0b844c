// What a backup destination is configured with. Arrives inside a signed policy from the control
// plane; parseDestinationConfig checks it on the node. Credentials (secretAccessKey, password,
// privateKey, passphrase) are secrets: describeDestination and every error leave them out.
import { isAbsolute } from 'node:path';
import { DestinationConfigError } from './errors';

export const DEFAULT_S3_REGION = 'us-east-1';
export const DEFAULT_SFTP_PORT = 22;
/** S3 multipart part size; 10,000 parts of 16 MiB allow objects up to 156 GiB */
export const DEFAULT_S3_PART_SIZE_MIB = 16;
export const MIN_S3_PART_SIZE_MIB = 5;

export interface LocalDestinationConfig {
  kind: 'local';
  /** absolute path of a folder on the node or a mounted disk; created 0700 when missing */
  path: string;
}

export interface S3DestinationConfig {
  kind: 's3';
  /** e.g. https://minio.example:9000 or an R2 endpoint; AWS when absent */
  endpoint?: string;
  region?: string;
  bucket: string;
  /** key prefix inside the bucket, e.g. "podploy/node-1/"; '' or absent for the bucket root */
  prefix?: string;
  accessKeyId: string;
  secretAccessKey: string;
  /** path-style URLs (endpoint/bucket/key): MinIO and most self-hosted servers need it */
  forcePathStyle?: boolean;
  partSizeMiB?: number;
}

export interface SftpDestinationConfig {
  kind: 'sftp';
  host: string;
  port?: number;
  user: string;
  /** OpenSSH or PEM private key text; one of privateKey and password is required */
  privateKey?: string;
  passphrase?: string;
  password?: string;
  /** remote folder, absolute or relative to the user's home; created (mkdir -p) when missing */
  folder: string;
  /** the server's host key as `ssh-keygen -lf` prints it: SHA256:... (must match) */
  hostKeyFingerprint: string;
}

export type DestinationConfig = LocalDestinationConfig | S3DestinationConfig | SftpDestinationConfig;

const FINGERPRINT = /^SHA256:[A-Za-z0-9+/]{43}$/;

/** The config, checked; throws DestinationConfigError naming every bad field (never its value). */
export function parseDestinationConfig(value: unknown): DestinationConfig {
  if (typeof value !== 'object' || value === null) throw new DestinationConfigError('a backup destination must be an object with a "kind" of local, s3 or sftp');
  const v = value as Record<string, unknown>;
  const problems: string[] = [];
  const str = (field: string, required: boolean) => {
    const x = v[field];
    if (x === undefined && !required) return;
    if (typeof x !== 'string' || x.length === 0) problems.push(`"${field}" must be a non-empty string`);
  };
  switch (v.kind) {
    case 'local':
      str('path', true);
      if (typeof v.path === 'string' && v.path && !isAbsolute(v.path)) problems.push('"path" must be absolute');
      break;
    case 's3':
      str('bucket', true);
      str('accessKeyId', true);
      str('secretAccessKey', true);
      str('region', false);
      str('endpoint', false);
      if (typeof v.endpoint === 'string' && !/^https?:\/\/[^/]+/.test(v.endpoint)) problems.push('"endpoint" must be an http(s) URL');
      if (v.prefix !== undefined && typeof v.prefix !== 'string') problems.push('"prefix" must be a string');
      if (typeof v.prefix === 'string' && (v.prefix.startsWith('/') || v.prefix.split('/').some((s) => s === '..' || s === '.')))
        problems.push('"prefix" must be relative, without "." or ".." segments');
      if (v.forcePathStyle !== undefined && typeof v.forcePathStyle !== 'boolean') problems.push('"forcePathStyle" must be true or false');
      if (v.partSizeMiB !== undefined && !(Number.isInteger(v.partSizeMiB) && (v.partSizeMiB as number) >= MIN_S3_PART_SIZE_MIB && (v.partSizeMiB as number) <= 5120))
        problems.push(`"partSizeMiB" must be a whole number from ${MIN_S3_PART_SIZE_MIB} to 5120`);
      break;
    case 'sftp':
      str('host', true);
      str('user', true);
      str('folder', true);
      str('privateKey', false);
      str('passphrase', false);
      str('password', false);
      if (v.port !== undefined && !(Number.isInteger(v.port) && (v.port as number) > 0 && (v.port as number) < 65536)) problems.push('"port" must be a TCP port (1-65535)');
      if (v.privateKey === undefined && v.password === undefined) problems.push('one of "privateKey" and "password" is required');
      if (typeof v.hostKeyFingerprint !== 'string' || !FINGERPRINT.test(v.hostKeyFingerprint))
        problems.push('"hostKeyFingerprint" must be the server\'s host key fingerprint as SHA256:<43 base64 characters> (ssh-keygen -lf on the host key)');
      break;
    default:
      throw new DestinationConfigError(`unknown backup destination kind ${JSON.stringify(String(v.kind)).slice(0, 40)}: use local, s3 or sftp`);
  }
  if (problems.length) throw new DestinationConfigError(`invalid ${v.kind} backup destination: ${problems.join('; ')}`);
  return value as DestinationConfig;
}

/** Where the destination writes, without any credential. */
export function describeDestination(config: DestinationConfig): string {
  switch (config.kind) {
    case 'local':
      return `local folder ${config.path}`;
    case 's3':
      return `s3://${config.bucket}/${config.prefix ?? ''} at ${config.endpoint ?? `AWS ${config.region ?? DEFAULT_S3_REGION}`}`;
    case 'sftp':
      return `sftp://${config.user}@${config.host}:${config.port ?? DEFAULT_SFTP_PORT}/${config.folder}`;
  }
}
