import { Facts, Usage } from '../api/contract';

// The proto messages and the API's shapes use the same field names; this keeps exactly the
// API's fields and fills what an older agent did not send.
export function factsFromWire(f: unknown): Facts | null {
  if (!f) return null;
  const src = f as Record<string, unknown>;
  const out: Record<string, unknown> = {};
  for (const [k, schema] of Object.entries(Facts.shape)) {
    const v = src[k];
    out[k] = v ?? (schema.def.type === 'string' ? '' : schema.def.type === 'boolean' ? false : 0);
  }
  return Facts.parse(out);
}

export function usageFromWire(u: unknown): Usage {
  const src = u as Record<string, unknown>;
  const out: Record<string, unknown> = {};
  for (const k of Object.keys(Usage.shape)) out[k] = Number(src[k] ?? 0);
  return Usage.parse(out);
}
