// What a DeployApp carries for a pull from a registry the operator logged in to: the
// credentials sealed for the one node that pulls (it alone can open them), and whether TLS is
// verified. Nothing for a registry without credentials.
import type { DeployApp } from '../../proto/gen/podploy/agent/v1/agent';
import { parseImageRef } from '../../proto/image-ref';
import { sealForNode, type NodeSealDeps } from '../secrets/node-seal';
import type { RegistryStore } from './registry-store';

export type PullAuth = Pick<DeployApp, 'sealedRegistryAuth' | 'registryTlsVerify'>;

export function pullAuthFor(store: RegistryStore, seal: NodeSealDeps, image: string, nodeId: string): PullAuth {
  const { registry } = parseImageRef(image);
  const cred = store.credentialsFor(registry);
  if (!cred) return { sealedRegistryAuth: Buffer.alloc(0), registryTlsVerify: true };
  const plain = Buffer.from(JSON.stringify({ username: cred.username, password: cred.password, serveraddress: cred.server }));
  try {
    return { sealedRegistryAuth: Buffer.from(sealForNode(seal, nodeId, plain)), registryTlsVerify: !cred.insecure };
  } finally {
    plain.fill(0);
  }
}
