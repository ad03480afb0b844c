import { describe, expect, it } from 'vitest';
import { formatSshAddress, parseSshAddress } from './ssh-address';

describe('parseSshAddress', () => {
  it('parses user, host and port', () => {
    expect(parseSshAddress('ssh://deploy@10.0.0.5:2222')).toEqual({ user: 'deploy', host: '10.0.0.5', port: 2222 });
    expect(parseSshAddress('ssh://deploy@web-1.example.com')).toEqual({ user: 'deploy', host: 'web-1.example.com', port: 22 });
    expect(parseSshAddress('ssh://ops@[2001:db8::1]:22')).toEqual({ user: 'ops', host: '2001:db8::1', port: 22 });
  });

  it.each([
    ['deploy@host', "must start with 'ssh://'"],
    ['ssh://host', 'USER@HOST'],
    ['ssh://deploy@', 'USER@HOST'],
    ['ssh://deploy@host:0', 'out of range'],
    ['ssh://deploy@host:70000', 'out of range'],
    ['ssh://deploy@host:22x', 'USER@HOST'],
    ['ssh://de ploy@host', 'not a valid user'],
    ['ssh://deploy@300.1.1.1', 'not a valid IPv4'],
    ['ssh://deploy@bad_host!', 'not a valid host name'],
    ['ssh://deploy@-bad.com', 'not a valid host name'],
    ['http://deploy@host', "must start with 'ssh://'"],
  ])('rejects %s with a clear error', (input, why) => {
    expect(() => parseSshAddress(input)).toThrow(why);
    try {
      parseSshAddress(input);
    } catch (e) {
      expect((e as { code: string }).code).toBe('invalid_input');
      expect((e as { hint: string }).hint).toContain('ssh://USER@HOST');
    }
  });

  it('formats back, omitting the default port', () => {
    expect(formatSshAddress({ user: 'a', host: 'h', port: 22 })).toBe('ssh://a@h');
    expect(formatSshAddress({ user: 'a', host: '::1', port: 2200 })).toBe('ssh://a@[::1]:2200');
  });
});
