// The node's copy of the control plane's TLS settings (proto/ingress-tls.ts), so a restarted
// agent rebuilds the same Caddy config without the control plane. The ACME server's extra root
// lives beside it as a PEM file, because Caddy reads trusted roots from files.
import { existsSync, mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { DEFAULT_INGRESS_TLS, tlsSettingsProblems, type IngressTlsSettings } from '../../proto/ingress-tls';
import { readJson, writeJsonAtomic, STATE_FILE_MODE } from '../state/atomic-file';

export const INGRESS_TLS_FILE = 'ingress-tls.json';
export const ACME_CA_ROOT_FILE = 'acme-ca-root.pem';

export class TlsSettingsStore {
  readonly file: string;
  readonly rootFile: string;
  private current: IngressTlsSettings;

  constructor(stateDir: string) {
    this.file = join(stateDir, INGRESS_TLS_FILE);
    this.rootFile = join(stateDir, ACME_CA_ROOT_FILE);
    const stored = readJson<Partial<IngressTlsSettings>>(this.file, {});
    this.current = { ...DEFAULT_INGRESS_TLS, ...stored };
  }

  get(): IngressTlsSettings {
    return { ...this.current };
  }

  // The root file Caddy must read, when there is an extra root.
  rootPath(): string | undefined {
    return this.current.acmeCaRootPem ? this.rootFile : undefined;
  }

  same(next: IngressTlsSettings): boolean {
    const a = this.current;
    return a.acmeDirectory === next.acmeDirectory && a.acmeEmail === next.acmeEmail && a.acmeCaRootPem === next.acmeCaRootPem && a.httpRedirect === next.httpRedirect;
  }

  // Throws (nothing written) when the settings are not usable.
  save(next: IngressTlsSettings): void {
    const problems = tlsSettingsProblems(next);
    if (problems.length > 0) throw new Error(`TLS settings refused: ${problems.join('; ')}`);
    if (next.acmeCaRootPem) this.writeRoot(next.acmeCaRootPem);
    else if (existsSync(this.rootFile)) {
      rmSync(this.rootFile);
    }
    writeJsonAtomic(this.file, next);
    this.current = { ...next };
  }

  // Rewrites the root file when it is missing or altered, before Caddy is started from the config.
  ensureRootFile(): void {
    if (!this.current.acmeCaRootPem) return;
    let onDisk = '';
    try {
      onDisk = readFileSync(this.rootFile, 'utf8');
    } catch {
      // missing: written below
    }
    if (onDisk !== this.current.acmeCaRootPem) this.writeRoot(this.current.acmeCaRootPem);
  }

  private writeRoot(pem: string): void {
    mkdirSync(dirname(this.rootFile), { recursive: true });
    const tmp = `${this.rootFile}.${process.pid}.tmp`;
    writeFileSync(tmp, pem, { mode: STATE_FILE_MODE });
    renameSync(tmp, this.rootFile);
  }
}
