// How a node's Caddy gets certificates, and the control plane's TLS settings pushed to every
// node. Pure: the control plane (settings, validation), the agent (Caddy's config) and the UI
// read these, so a default is written once.

export const LETS_ENCRYPT_DIRECTORY = 'https://acme-v02.api.letsencrypt.org/directory';

// Names no public CA will certify: Caddy's internal CA serves them. Reserved TLDs (RFC 2606,
// RFC 6761, RFC 6762, ICANN's .internal, RFC 8375's home.arpa).
export const INTERNAL_TLDS = ['test', 'example', 'invalid', 'localhost', 'local', 'internal', 'home.arpa'] as const;

// Which plain-HTTP requests are redirected to HTTPS (308): only names with a publicly trusted
// certificate (clients do not trust Caddy's internal root unless it is installed on them), every
// name, or none.
export const HTTP_REDIRECT_MODES = ['public', 'all', 'off'] as const;
export type HttpRedirectMode = (typeof HTTP_REDIRECT_MODES)[number];

export interface IngressTlsSettings {
  // The ACME server's directory URL.
  acmeDirectory: string;
  // The ACME account's contact; empty: none.
  acmeEmail: string;
  // An extra root (PEM) the ACME server's own HTTPS certificate chains to (a private ACME CA
  // such as Pebble or step-ca); empty: the system's roots.
  acmeCaRootPem: string;
  httpRedirect: HttpRedirectMode;
}

export const DEFAULT_INGRESS_TLS: IngressTlsSettings = {
  acmeDirectory: LETS_ENCRYPT_DIRECTORY,
  acmeEmail: '',
  acmeCaRootPem: '',
  httpRedirect: 'public',
};

const IPV4 = /^(\d{1,3})(\.\d{1,3}){3}$/;
const EMAIL = /^[^\s@]+@[^\s@]+\.[^\s@]+$/;
const PEM_CERT = /-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/;

export function isIpAddress(name: string): boolean {
  return IPV4.test(name) || name.includes(':') || /^\[.*\]$/.test(name);
}

// True when `domain` gets a certificate from Caddy's internal CA rather than by ACME.
export function usesInternalCa(domain: string): boolean {
  const d = domain.trim().toLowerCase().replace(/\.$/, '');
  if (isIpAddress(d) || d === 'localhost' || !d.includes('.')) return true;
  return INTERNAL_TLDS.some((tld) => d === tld || d.endsWith(`.${tld}`));
}

// Every problem with the settings, one line each, for an operator; [] when they are usable.
export function tlsSettingsProblems(s: IngressTlsSettings): string[] {
  const problems: string[] = [];
  let url: URL | undefined;
  try {
    url = new URL(s.acmeDirectory);
  } catch {
    problems.push(`the ACME directory "${s.acmeDirectory}" is not a URL`);
  }
  if (url && url.protocol !== 'https:') problems.push(`the ACME directory must be an https:// URL (ACME runs over HTTPS), not ${url.protocol}//`);
  if (s.acmeEmail !== '' && !EMAIL.test(s.acmeEmail)) problems.push(`"${s.acmeEmail}" is not an email address`);
  if (s.acmeCaRootPem !== '' && !PEM_CERT.test(s.acmeCaRootPem)) problems.push('the ACME CA root is not a PEM certificate (-----BEGIN CERTIFICATE-----)');
  if (!(HTTP_REDIRECT_MODES as readonly string[]).includes(s.httpRedirect)) problems.push(`http redirect "${s.httpRedirect}" must be one of ${HTTP_REDIRECT_MODES.join(', ')}`);
  return problems;
}
