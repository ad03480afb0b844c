import { createServer, type Server, type ServerResponse } from 'node:http';
import { rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { PodmanClient } from './client';
import { parseEvent, PodmanEventStream, type PodmanEvent } from './events';

const died = (name: string, timeNano: number, code = '137') =>
  JSON.stringify({ Type: 'container', Action: 'died', Actor: { ID: `id-${name}`, Attributes: { name, containerExitCode: code } }, time: Math.floor(timeNano / 1e9), timeNano });

describe('parseEvent', () => {
  it("reads Podman's event JSON, with the exit code of a death", () => {
    expect(parseEvent(JSON.parse(died('web', 1_800_000_000_123_000_000)))).toEqual({
      type: 'container',
      action: 'died',
      id: 'id-web',
      name: 'web',
      attributes: { name: 'web', containerExitCode: '137' },
      timeNano: 1_800_000_000_123_000_000,
      exitCode: 137,
    });
    expect(parseEvent({ stream: 'not an event' })).toBeUndefined();
  });
});

describe('PodmanEventStream', () => {
  const socket = join(tmpdir(), `pp-events-${process.pid}.sock`);
  let server: Server | undefined;
  afterEach(async () => {
    server?.closeAllConnections();
    await new Promise((r) => (server ? server.close(r) : r(undefined)));
    rmSync(socket, { force: true });
  });

  // A stand-in for Podman's socket: each connection gets `lines`, then is closed by the test.
  function serve(onRequest: (url: string, res: ServerResponse) => void): Promise<void> {
    server = createServer((req, res) => onRequest(req.url ?? '', res));
    return new Promise((r) => server?.listen(socket, () => r()));
  }

  it('reconnects after the socket goes away, asks for what came since the last event, and delivers each event once', async () => {
    const urls: string[] = [];
    const responses: ServerResponse[] = [];
    // Later than the stream's start: what is older than its start is dropped as a replay.
    const t = (Date.now() + 10_000) * 1e6;
    await serve((url, res) => {
      urls.push(url);
      responses.push(res);
      res.writeHead(200, { 'Content-Type': 'application/json' });
      if (responses.length === 1) res.write(`${died('a', t + 1e6)}\n${died('b', t + 2e6)}\n`);
      // The replay after a reconnect repeats the last second: b again, then c.
      else res.write(`${died('b', t + 2e6)}\n${died('c', t + 3e6)}\n`);
    });
    const events: PodmanEvent[] = [];
    const connects: boolean[] = [];
    const stream = new PodmanEventStream({
      podman: new PodmanClient(socket),
      filters: { type: ['container'] },
      onEvent: (e) => events.push(e),
      onConnect: ({ reconnect }) => connects.push(reconnect),
      initialBackoffMs: 10,
    });
    stream.start();
    while (events.length < 2) await new Promise((r) => setTimeout(r, 5));
    expect(stream.connected).toBe(true);
    responses[0].destroy();
    while (events.length < 3) await new Promise((r) => setTimeout(r, 5));
    stream.close();
    expect(events.map((e) => e.name)).toEqual(['a', 'b', 'c']);
    expect(connects).toEqual([false, true]);
    expect(urls[0]).toContain('stream=true');
    expect(decodeURIComponent(urls[0])).toContain('"type":["container"]');
    expect(Number(new URL(urls[1], 'http://x').searchParams.get('since'))).toBe(Math.floor((t + 2e6) / 1e9));
  });

  it('keeps trying while nothing listens, and connects once the socket is there', async () => {
    const stream = new PodmanEventStream({ podman: new PodmanClient(socket), onEvent: () => undefined, onConnect: () => undefined, initialBackoffMs: 10, maxBackoffMs: 20 });
    const connected = new Promise<void>((resolve) => {
      (stream as unknown as { options: { onConnect: () => void } }).options.onConnect = resolve;
    });
    stream.start();
    await new Promise((r) => setTimeout(r, 100));
    expect(stream.connected).toBe(false);
    await serve((_url, res) => res.writeHead(200).flushHeaders());
    await connected;
    expect(stream.connected).toBe(true);
    stream.close();
  });
});
