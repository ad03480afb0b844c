import { describe, expect, it } from 'vitest';
import { ApiError } from '../api/contract';
import { parseSince } from './logs-service';

const NOW = Date.parse('2026-11-27T10:00:00Z');

describe('parseSince', () => {
  it('takes a duration back from now', () => {
    expect(parseSince('30s', NOW)).toBe(NOW - 30_000);
    expect(parseSince('10m', NOW)).toBe(NOW - 600_000);
    expect(parseSince('2h', NOW)).toBe(NOW - 7_200_000);
    expect(parseSince('1d', NOW)).toBe(NOW - 86_400_000);
  });

  it('takes an ISO 8601 time', () => {
    expect(parseSince('2026-11-27T09:00:00Z', NOW)).toBe(Date.parse('2026-11-27T09:00:00Z'));
    expect(parseSince('2026-11-27T09:00:00.250+01:00', NOW)).toBe(Date.parse('2026-11-27T08:00:00.250Z'));
  });

  it('refuses anything else with a hint', () => {
    for (const bad of ['10', '10 minutes', 'yesterday', '-5m', '2026-13-45T00:00:00Z', '5w', '']) {
      let err: unknown;
      try {
        parseSince(bad, NOW);
      } catch (e) {
        err = e;
      }
      expect(err, bad).toBeInstanceOf(ApiError);
      expect((err as ApiError).code).toBe('invalid_input');
      expect((err as ApiError).hint).toMatch(/30s, 10m, 2h/);
    }
  });

  it('refuses a time in the future', () => {
    expect(() => parseSince('2026-11-28T00:00:00Z', NOW)).toThrow(/in the future/);
  });
});
