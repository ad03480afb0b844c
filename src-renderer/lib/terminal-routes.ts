// The terminal and recordings pages' addresses: #/terminal/app/NAME, #/terminal/node/NAME,
// #/recordings (?node=&app=&user=&range=) and #/recordings/ID. Pure; router.svelte.ts uses
// these; unit-tested in terminal-routes.spec.ts.

export type TerminalRoute =
  | { page: 'terminal'; kind: 'app' | 'node'; name: string }
  | { page: 'recordings'; filter: string }
  | { page: 'recording'; id: string };

// null: not one of these pages.
export function parseTerminalRoute(path: string): TerminalRoute | null {
  const terminal = /^\/terminal\/(app|node)\/([^/?]+)$/.exec(path);
  if (terminal) return { page: 'terminal', kind: terminal[1] as 'app' | 'node', name: safeDecode(terminal[2]) };
  const list = /^\/recordings(?:\?(.*))?$/.exec(path);
  if (list) return { page: 'recordings', filter: list[1] ?? '' };
  const one = /^\/recordings\/([^/?]+)$/.exec(path);
  if (one) return { page: 'recording', id: safeDecode(one[1]) };
  return null;
}

export function terminalRouteHref(route: TerminalRoute): string {
  switch (route.page) {
    case 'terminal':
      return `#/terminal/${route.kind}/${encodeURIComponent(route.name)}`;
    case 'recordings':
      return route.filter ? `#/recordings?${route.filter}` : '#/recordings';
    case 'recording':
      return `#/recordings/${encodeURIComponent(route.id)}`;
  }
}

function safeDecode(s: string): string {
  try {
    return decodeURIComponent(s);
  } catch {
    return s;
  }
}
