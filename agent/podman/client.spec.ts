import { createServer, type Server } from 'node:http';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PodmanClient, PodmanError } from './client';
import { containerCounts, podmanVersion } from './system';

const dir = mkdtempSync(join(tmpdir(), 'podploy-podman-'));
const socket = join(dir, 'podman.sock');
let server: Server;

// A stand-in for Podman's REST socket: real HTTP over a real unix socket.
beforeAll(async () => {
  server = createServer((req, res) => {
    if (req.url === '/v4.0.0/libpod/version') return res.end(JSON.stringify({ Version: '4.3.1' }));
    if (req.url === '/v4.0.0/libpod/containers/json?all=true') {
      return res.end(JSON.stringify([{ State: 'running' }, { State: 'exited' }, { State: 'running' }]));
    }
    if (req.url === '/v4.0.0/libpod/slow') return;
    res.statusCode = 404;
    res.end('{"cause":"no such thing"}');
  });
  await new Promise<void>((r) => server.listen(socket, r));
});
afterAll(async () => {
  server.closeAllConnections();
  await new Promise((r) => server.close(r));
  rmSync(dir, { recursive: true, force: true });
});

describe('PodmanClient', () => {
  it('reads the version and counts containers', async () => {
    const podman = new PodmanClient(socket);
    expect(await podmanVersion(podman)).toBe('4.3.1');
    expect(await containerCounts(podman)).toEqual({ total: 3, running: 2 });
  });

  it('names the socket and the status in errors', async () => {
    await expect(new PodmanClient(socket).getJson('/nope')).rejects.toThrow(`Podman at ${socket}: GET /v4.0.0/libpod/nope answered HTTP 404`);
    const absent = join(dir, 'absent.sock');
    const err = (await new PodmanClient(absent).getJson('/version').catch((e: unknown) => e)) as PodmanError;
    expect(err).toBeInstanceOf(PodmanError);
    expect(err.message).toContain(`Podman at ${absent}`);
    expect(err.message).toContain('ENOENT');
  });

  it('times out', async () => {
    await expect(new PodmanClient(socket, 100).getJson('/slow')).rejects.toThrow('timed out after 100 ms');
  });
});
