import 'reflect-metadata';
import * as x509 from '@peculiar/x509';
import { randomBytes, webcrypto } from 'node:crypto';
import type { Vault } from './vault';

x509.cryptoProvider.set(webcrypto as unknown as Crypto);

const ALG = { name: 'ECDSA', namedCurve: 'P-256', hash: 'SHA-256' } as const;
export const CA_VALIDITY_DAYS = 3650;
export const LEAF_VALIDITY_DAYS = 825;
export const CONTROL_PLANE_CN = 'podploy-control-plane';
export const agentServerName = (nodeId: string) => `${nodeId}.agents.podploy.internal`;

export interface CertAndKey {
  certPem: string;
  keyPem: string;
}

const DAY = 86_400_000;

// The control plane is the fleet CA: it signs each agent's server certificate and its own
// client certificate. The CA key never leaves the vault unsealed except in memory.
export class FleetCa {
  private constructor(
    readonly caCertPem: string,
    private caCert: x509.X509Certificate,
    private caKey: CryptoKey,
    readonly client: CertAndKey,
  ) {}

  static async loadOrCreate(vault: Vault): Promise<FleetCa> {
    let stored = vault.get('fleet-ca');
    if (!stored) {
      const keys = (await webcrypto.subtle.generateKey(ALG, true, ['sign', 'verify'])) as CryptoKeyPair;
      const cert = await x509.X509CertificateGenerator.createSelfSigned({
        serialNumber: serial(),
        name: `CN=PodPloy fleet CA ${randomBytes(4).toString('hex')}`,
        notBefore: new Date(Date.now() - DAY),
        notAfter: new Date(Date.now() + CA_VALIDITY_DAYS * DAY),
        signingAlgorithm: ALG,
        keys,
        extensions: [
          new x509.BasicConstraintsExtension(true, 0, true),
          new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign, true),
          await x509.SubjectKeyIdentifierExtension.create(keys.publicKey),
        ],
      });
      const ca = { certPem: cert.toString('pem'), keyPem: await exportKeyPem(keys.privateKey) };
      vault.put('fleet-ca', Buffer.from(JSON.stringify(ca)));
      stored = vault.get('fleet-ca')!;
    }
    const ca = JSON.parse(stored.toString('utf8')) as CertAndKey;
    const caCert = new x509.X509Certificate(ca.certPem);
    const caKey = await importKeyPem(ca.keyPem);
    const partial = new FleetCa(ca.certPem, caCert, caKey, { certPem: '', keyPem: '' });
    let client = vault.get('control-plane-client');
    if (!client) {
      const issued = await partial.issue(`CN=${CONTROL_PLANE_CN}`, [], 'client');
      vault.put('control-plane-client', Buffer.from(JSON.stringify(issued)));
      client = vault.get('control-plane-client')!;
    }
    return new FleetCa(ca.certPem, caCert, caKey, JSON.parse(client.toString('utf8')) as CertAndKey);
  }

  issueAgentCert(nodeId: string): Promise<CertAndKey> {
    return this.issue(`CN=podploy-agent ${nodeId}`, [
      { type: 'dns', value: agentServerName(nodeId) },
      { type: 'ip', value: '127.0.0.1' },
    ], 'server');
  }

  private async issue(subject: string, names: x509.JsonGeneralName[], usage: 'server' | 'client'): Promise<CertAndKey> {
    const keys = (await webcrypto.subtle.generateKey(ALG, true, ['sign', 'verify'])) as CryptoKeyPair;
    const extensions: x509.Extension[] = [
      new x509.BasicConstraintsExtension(false, undefined, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature | x509.KeyUsageFlags.keyAgreement, true),
      new x509.ExtendedKeyUsageExtension([usage === 'server' ? x509.ExtendedKeyUsage.serverAuth : x509.ExtendedKeyUsage.clientAuth]),
      await x509.AuthorityKeyIdentifierExtension.create(this.caCert),
    ];
    if (names.length) extensions.push(new x509.SubjectAlternativeNameExtension(names));
    const cert = await x509.X509CertificateGenerator.create({
      serialNumber: serial(),
      subject,
      issuer: this.caCert.subject,
      notBefore: new Date(Date.now() - DAY),
      notAfter: new Date(Date.now() + LEAF_VALIDITY_DAYS * DAY),
      signingAlgorithm: ALG,
      publicKey: keys.publicKey,
      signingKey: this.caKey,
      extensions,
    });
    return { certPem: cert.toString('pem'), keyPem: await exportKeyPem(keys.privateKey) };
  }
}

function serial(): string {
  const b = randomBytes(16);
  b[0] &= 0x7f;
  return b.toString('hex');
}

async function exportKeyPem(key: CryptoKey): Promise<string> {
  const der = Buffer.from(await webcrypto.subtle.exportKey('pkcs8', key));
  const b64 = der.toString('base64').replace(/.{64}/g, '$&\n');
  return `-----BEGIN PRIVATE KEY-----\n${b64}${b64.endsWith('\n') ? '' : '\n'}-----END PRIVATE KEY-----\n`;
}

async function importKeyPem(pem: string): Promise<CryptoKey> {
  const der = Buffer.from(pem.replace(/-----[^-]+-----/g, '').replace(/\s+/g, ''), 'base64');
  return webcrypto.subtle.importKey('pkcs8', der, ALG, false, ['sign']) as Promise<CryptoKey>;
}
