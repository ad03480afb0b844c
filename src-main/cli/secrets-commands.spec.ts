import { describe, expect, it } from 'vitest';
import { formatSecrets, parseSecretValues } from './secrets-commands';

describe('podploy secrets set: where values come from', () => {
  it('takes NAME=VALUE pairs; a value may hold = and spaces', () => {
    expect(parseSecretValues(['A=1', 'DB_URL=postgres://u:p@h/db?x=y', 'S= a b '], undefined)).toEqual({ A: '1', DB_URL: 'postgres://u:p@h/db?x=y', S: ' a b ' });
  });

  it('NAME --stdin takes the whole input as one value, less one final newline', () => {
    expect(parseSecretValues(['PEM'], '-----BEGIN-----\nabc\n-----END-----\n')).toEqual({ PEM: '-----BEGIN-----\nabc\n-----END-----' });
    expect(parseSecretValues(['T', 'X=1'], 'tok')).toEqual({ T: 'tok', X: '1' });
  });

  it('--stdin without a name reads NAME=VALUE lines, skipping blanks and comments', () => {
    expect(parseSecretValues([], '# prod\nA=1\n\nB=x=y\r\n')).toEqual({ A: '1', B: 'x=y' });
  });

  it('refuses a name without a value, several names for one stdin, bad lines, duplicates and nothing at all', () => {
    expect(() => parseSecretValues(['A'], undefined)).toThrow(/A: no value given/);
    expect(() => parseSecretValues(['A', 'B'], 'v')).toThrow(/one value, but 2 names/);
    expect(() => parseSecretValues([], 'A=1\nnonsense\n')).toThrow(/line 2 is not NAME=VALUE/);
    expect(() => parseSecretValues(['A=1', 'A=2'], undefined)).toThrow(/given twice/);
    expect(() => parseSecretValues(['=1'], undefined)).toThrow(/name before '=' is empty/);
    expect(() => parseSecretValues([], '')).toThrow(/no secret given/);
  });

  it('lists names, when and by whom, and says values are never shown', () => {
    const out = formatSecrets({ app: 'web', version: 3, secrets: [{ name: 'API_KEY', updatedAt: 1_000, updatedBy: 'alice' }] }, 61_000);
    expect(out).toMatch(/API_KEY\s+1m ago\s+alice|API_KEY\s+\S+.*alice/);
    expect(out).toContain('version 3');
    expect(formatSecrets({ app: 'web', version: 0, secrets: [] })).toMatch(/no secrets/);
  });
});
