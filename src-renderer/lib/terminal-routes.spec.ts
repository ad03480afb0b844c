import { describe, expect, it } from 'vitest';
import { parseTerminalRoute, terminalRouteHref, type TerminalRoute } from './terminal-routes';

describe('terminal routes', () => {
  it('parses the terminal, recordings and recording addresses', () => {
    expect(parseTerminalRoute('/terminal/app/web')).toEqual({ page: 'terminal', kind: 'app', name: 'web' });
    expect(parseTerminalRoute('/terminal/node/node%201')).toEqual({ page: 'terminal', kind: 'node', name: 'node 1' });
    expect(parseTerminalRoute('/recordings')).toEqual({ page: 'recordings', filter: '' });
    expect(parseTerminalRoute('/recordings?node=n1&range=24h')).toEqual({ page: 'recordings', filter: 'node=n1&range=24h' });
    expect(parseTerminalRoute('/recordings/rec_abc')).toEqual({ page: 'recording', id: 'rec_abc' });
  });

  it('leaves other addresses to the main router', () => {
    for (const p of ['/terminal/pod/web', '/terminal/app/', '/terminal/app/a/b', '/recordings/a/b', '/apps/web', '', '/recordingsx']) expect(parseTerminalRoute(p)).toBeNull();
  });

  it('keeps a bad escape as typed instead of throwing', () => {
    expect(parseTerminalRoute('/recordings/%E0%A4%A')).toEqual({ page: 'recording', id: '%E0%A4%A' });
  });

  it('round-trips every route through its address', () => {
    const routes: TerminalRoute[] = [
      { page: 'terminal', kind: 'app', name: 'web-1' },
      { page: 'terminal', kind: 'node', name: 'edge/1 ü' },
      { page: 'recordings', filter: '' },
      { page: 'recordings', filter: 'app=web&user=alice' },
      { page: 'recording', id: 'rec_0f/1' },
    ];
    for (const r of routes) expect(parseTerminalRoute(terminalRouteHref(r).slice(1))).toEqual(r);
  });
});
