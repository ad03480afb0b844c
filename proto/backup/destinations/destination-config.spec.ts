import { describe, expect, it } from 'vitest';
import { describeDestination, parseDestinationConfig } from './destination-config';
import { DestinationConfigError } from './errors';
import { openDestination } from './open-destination';

const FP = `SHA256:${'A'.repeat(43)}`;

function problem(value: unknown): string {
  try {
    parseDestinationConfig(value);
  } catch (err) {
    expect(err).toBeInstanceOf(DestinationConfigError);
    return (err as Error).message;
  }
  throw new Error('expected the config to be refused');
}

describe('destination configs', () => {
  it('accepts the three kinds', () => {
    expect(parseDestinationConfig({ kind: 'local', path: '/srv/backups' }).kind).toBe('local');
    expect(parseDestinationConfig({ kind: 's3', bucket: 'b', accessKeyId: 'id', secretAccessKey: 's', endpoint: 'https://minio:9000', forcePathStyle: true, partSizeMiB: 8 }).kind).toBe('s3');
    expect(parseDestinationConfig({ kind: 'sftp', host: 'h', user: 'u', password: 'p', folder: 'backups', hostKeyFingerprint: FP }).kind).toBe('sftp');
  });

  it('names every bad field and never echoes a secret', () => {
    expect(problem(null)).toMatch(/"kind" of local, s3 or sftp/);
    expect(problem({ kind: 'ftp' })).toMatch(/unknown backup destination kind "ftp"/);
    expect(problem({ kind: 'local', path: 'relative/dir' })).toMatch(/"path" must be absolute/);
    const s3 = problem({ kind: 's3', bucket: '', accessKeyId: 'id', secretAccessKey: 'hunter2-secret', endpoint: 'minio:9000', partSizeMiB: 1, prefix: '../x' });
    expect(s3).toMatch(/"bucket" must be a non-empty string.*"endpoint" must be an http\(s\) URL.*"prefix" must be relative.*"partSizeMiB" must be a whole number from 5/);
    expect(s3).not.toContain('hunter2-secret');
    const sftp = problem({ kind: 'sftp', host: 'h', user: 'u', folder: 'f', hostKeyFingerprint: 'MD5:aa:bb', port: 70000, passphrase: 'hunter2-secret' });
    expect(sftp).toMatch(/"port" must be a TCP port.*one of "privateKey" and "password" is required.*"hostKeyFingerprint" must be/);
    expect(sftp).not.toContain('hunter2-secret');
  });

  it('describes a destination without its credentials', () => {
    const s3 = describeDestination({ kind: 's3', bucket: 'b', prefix: 'p/', accessKeyId: 'AKIA-ID', secretAccessKey: 'hunter2-secret', endpoint: 'https://minio:9000' });
    expect(s3).toBe('s3://b/p/ at https://minio:9000');
    const sftp = describeDestination({ kind: 'sftp', host: 'h', user: 'u', password: 'hunter2-secret', folder: 'f', hostKeyFingerprint: FP });
    expect(sftp).toBe('sftp://u@h:22/f');
    expect(describeDestination({ kind: 's3', bucket: 'b', accessKeyId: 'i', secretAccessKey: 's' })).toBe('s3://b/ at AWS us-east-1');
  });

  it('openDestination refuses a bad config before touching anything', async () => {
    await expect(openDestination({ kind: 'local', path: 'nope' })).rejects.toBeInstanceOf(DestinationConfigError);
  });
});
