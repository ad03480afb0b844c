// The one way to get a BackupDestination from its configuration. Each implementation is
// loaded on first use, so an agent that never backs up to S3 or SFTP never loads their SDKs.
import type { BackupDestination } from './destination';
import { parseDestinationConfig, type DestinationConfig } from './destination-config';

export async function openDestination(config: DestinationConfig): Promise<BackupDestination> {
  const checked = parseDestinationConfig(config);
  switch (checked.kind) {
    case 'local': {
      const { LocalDestination } = await import('./local');
      return new LocalDestination(checked.path);
    }
    case 's3': {
      const { S3Destination } = await import('./s3');
      return new S3Destination(checked);
    }
    case 'sftp': {
      const { SftpDestination } = await import('./sftp');
      return new SftpDestination(checked);
    }
  }
}
