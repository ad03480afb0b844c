// A throwaway certificate authority for tests, made the same way as the fleet CA.
import { randomBytes } from 'node:crypto';
import { createCa, issueLeaf, loadCa, type CaMaterial, type CertAndKey, type LeafOptions } from '../../src-main/crypto/x509-certs';

export const TEST_CERT_VALIDITY_DAYS = 2;
export type PemPair = CertAndKey;
export type { LeafOptions };

export class TestCa {
  private constructor(
    readonly certPem: string,
    private readonly ca: CaMaterial,
  ) {}

  static async create(name = `PodPloy test CA ${randomBytes(3).toString('hex')}`): Promise<TestCa> {
    const made = await createCa(name, TEST_CERT_VALIDITY_DAYS);
    return new TestCa(made.certPem, await loadCa(made));
  }

  issue(opts: LeafOptions): Promise<PemPair> {
    return issueLeaf(this.ca, opts, TEST_CERT_VALIDITY_DAYS);
  }
}
