// The keys backups are sealed with, derived from the master key: one per node (its agent gets it
// sealed for it) and one for the control plane's own state. Nothing stores them.
import { BACKUP_KEY_INFO, CONTROL_PLANE_BACKUP_KEY_INFO } from '../../proto/backup-defaults';
import { deriveKey } from '../crypto/derived-keys';

export const nodeBackupKey = (masterKey: Uint8Array, nodeId: string): Uint8Array => deriveKey(masterKey, BACKUP_KEY_INFO + nodeId);
export const controlPlaneBackupKey = (masterKey: Uint8Array): Uint8Array => deriveKey(masterKey, CONTROL_PLANE_BACKUP_KEY_INFO);
