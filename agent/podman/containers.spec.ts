import { describe, expect, it } from 'vitest';
import { containerCreateBody, podployLabels } from './containers';

describe('containerCreateBody', () => {
  it('is the libpod SpecGenerator for a PodPloy container', () => {
    expect(
      containerCreateBody({
        name: 'web-r3-1',
        image: 'localhost/web@sha256:abc',
        command: ['/app/start'],
        env: { APP_VERSION: '3' },
        labels: podployLabels({ app: 'web', release: 'r3', slot: 1 }),
        ports: [{ hostIp: '127.0.1.1', hostPort: 20000, containerPort: 8080 }],
        memoryBytes: 256 * 1024 * 1024,
        cpus: 1.5,
        stopGraceSeconds: 30,
      }),
    ).toEqual({
      name: 'web-r3-1',
      image: 'localhost/web@sha256:abc',
      command: ['/app/start'],
      env: { APP_VERSION: '3' },
      labels: { 'podploy.app': 'web', 'podploy.release': 'r3', 'podploy.slot': '1' },
      portmappings: [{ host_ip: '127.0.1.1', host_port: 20000, container_port: 8080, protocol: 'tcp' }],
      resource_limits: { memory: { limit: 268435456 }, cpu: { quota: 150000, period: 100000 } },
      restart_policy: 'no',
      stop_timeout: 30,
    });
  });
});
