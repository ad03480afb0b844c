import { describe, expect, it } from 'vitest';
import { isRegistryHost, normalizeRegistry, parseImageRef } from './image-ref';

describe('image references', () => {
  it('finds the registry the way Podman does', () => {
    expect(parseImageRef('127.0.0.1:5000/team/app:v2')).toEqual({ registry: '127.0.0.1:5000', repository: 'team/app', tag: 'v2', explicitRegistry: true });
    expect(parseImageRef('localhost/testapp:v1')).toMatchObject({ registry: 'localhost', repository: 'testapp', tag: 'v1' });
    expect(parseImageRef('ghcr.io/o/app@sha256:' + 'a'.repeat(64))).toMatchObject({ registry: 'ghcr.io', repository: 'o/app', digest: 'sha256:' + 'a'.repeat(64) });
    expect(parseImageRef('nginx:1.27')).toEqual({ registry: 'docker.io', repository: 'library/nginx', tag: '1.27', explicitRegistry: false });
    expect(parseImageRef('team/app')).toMatchObject({ registry: 'docker.io', repository: 'team/app', explicitRegistry: false });
    expect(parseImageRef('index.docker.io/library/redis:7')).toMatchObject({ registry: 'docker.io', repository: 'library/redis' });
  });

  it('normalizes what an operator types for a registry', () => {
    expect(normalizeRegistry('https://Registry.Example.com:5000/')).toBe('registry.example.com:5000');
    expect(normalizeRegistry('registry-1.docker.io')).toBe('docker.io');
    expect(normalizeRegistry(' 127.0.0.1:5000 ')).toBe('127.0.0.1:5000');
    expect(isRegistryHost('127.0.0.1:5000')).toBe(true);
    expect(isRegistryHost('registry.example.com')).toBe(true);
    for (const bad of ['', 'a b', 'x:port', '-x.com', 'a/b']) expect(isRegistryHost(bad)).toBe(false);
  });
});
