import { describe, expect, it } from 'vitest';
import { DEFAULT_CONFIG_PATH, parseArgs } from './cli-args';

describe('parseArgs', () => {
  it('reads the command and --config in both spellings', () => {
    expect(parseArgs(['run', '--config', '/x/config.json'])).toEqual({ command: 'run', configPath: '/x/config.json' });
    expect(parseArgs(['supervise', '--config=/y.json'])).toEqual({ command: 'supervise', configPath: '/y.json' });
    expect(parseArgs(['version'])).toEqual({ command: 'version', configPath: DEFAULT_CONFIG_PATH });
  });

  it('refuses unknown arguments', () => {
    expect(() => parseArgs(['run', '--verbose'])).toThrow('unknown argument: --verbose');
  });
});
