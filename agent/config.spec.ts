import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import type { AgentConfig } from '../proto/agent-config';
import { AgentConfigError, loadAgentConfig, validateAgentConfig } from './config';

const dir = mkdtempSync(join(tmpdir(), 'podploy-agent-config-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const valid: AgentConfig = {
  nodeId: 'n1',
  listenHost: '127.0.0.1',
  listenPort: 7443,
  tlsDir: '/a/tls',
  stateDir: '/a/state',
  runDir: '/a/run',
  logDir: '/a/log',
  podmanSocket: '/a/run/podman.sock',
  manageJobs: ['podman'],
};

describe('agent config', () => {
  it('accepts a complete config', () => {
    expect(validateAgentConfig(valid, '/a/config.json')).toEqual(valid);
  });

  it('takes relative paths from the config file folder and defaults manageJobs', () => {
    const { manageJobs: _, ...rest } = valid;
    const c = validateAgentConfig({ ...rest, stateDir: 'state' }, '/srv/agent/config.json');
    expect(c.stateDir).toBe('/srv/agent/state');
    expect(c.manageJobs).toEqual([]);
  });

  it('reports every problem at once', () => {
    try {
      validateAgentConfig({ ...valid, nodeId: '', listenPort: 70_000, manageJobs: ['caddy'], logLevel: 'loud' }, '/a/config.json');
      expect.unreachable();
    } catch (err) {
      expect(err).toBeInstanceOf(AgentConfigError);
      expect((err as AgentConfigError).problems).toEqual([
        'nodeId must be a non-empty string',
        'listenPort must be an integer from 1 to 65535',
        'manageJobs must be a list of "podman"',
        'logLevel must be one of trace, debug, info, warn, error, fatal',
      ]);
    }
  });

  it('takes the ingress listen address and the caddy binary, and checks them', () => {
    const c = validateAgentConfig({ ...valid, ingressHttpListen: '127.0.0.1:8080', caddyBinary: 'bin/caddy' }, '/srv/agent/config.json');
    expect(c.ingressHttpListen).toBe('127.0.0.1:8080');
    expect(c.caddyBinary).toBe('/srv/agent/bin/caddy');
    expect(validateAgentConfig({ ...valid, ingressHttpListen: ':80', caddyBinary: 'caddy' }, '/a/config.json')).toMatchObject({ ingressHttpListen: ':80', caddyBinary: 'caddy' });
    expect(validateAgentConfig({ ...valid, ingressHttpListen: '[::1]:80' }, '/a/config.json').ingressHttpListen).toBe('[::1]:80');
    try {
      validateAgentConfig({ ...valid, ingressHttpListen: '80', caddyBinary: '' }, '/a/config.json');
      expect.unreachable();
    } catch (err) {
      expect((err as AgentConfigError).problems).toEqual([
        'ingressHttpListen must be "host:port" or ":port" (e.g. ":80", "127.0.0.1:8080")',
        'caddyBinary must be a non-empty string (a name in PATH or an absolute path)',
      ]);
    }
    expect(() => validateAgentConfig({ ...valid, ingressHttpListen: ':70000' }, '/a/config.json')).toThrow('ingressHttpListen');
  });

  it('takes the HTTPS listen address ("" for none) and checks it', () => {
    expect(validateAgentConfig({ ...valid, ingressHttpsListen: ':443' }, '/a/config.json').ingressHttpsListen).toBe(':443');
    expect(validateAgentConfig({ ...valid, ingressHttpsListen: '' }, '/a/config.json').ingressHttpsListen).toBe('');
    expect(validateAgentConfig(valid, '/a/config.json').ingressHttpsListen).toBeUndefined();
    expect(() => validateAgentConfig({ ...valid, ingressHttpsListen: '443' }, '/a/config.json')).toThrow('ingressHttpsListen must be');
  });

  it('names the file that does not parse', () => {
    const path = join(dir, 'broken.json');
    writeFileSync(path, '{');
    expect(() => loadAgentConfig(path)).toThrow(`${path} is not a valid agent config`);
    expect(() => loadAgentConfig(join(dir, 'absent.json'))).toThrow(/absent\.json is not a valid agent config/);
  });
});

describe('config.example.json', () => {
  it('is a valid config', () => {
    expect(loadAgentConfig(join(__dirname, 'config.example.json')).manageJobs).toEqual(['podman']);
  });
});
