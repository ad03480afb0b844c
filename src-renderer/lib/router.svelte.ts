// Hash routing: works the same from file:// (Electron) and from `podploy serve`.
import { backupsRouteHref, parseBackupsRoute, type BackupsRoute } from './backup-runs';
import { parseTerminalRoute, terminalRouteHref, type TerminalRoute } from './terminal-routes';

export type Route = TerminalRoute | BackupsRoute | { page: 'nodes' } | { page: 'node'; name: string } | { page: 'apps' } | { page: 'app'; name: string } | { page: 'audit' } | { page: 'app-logs'; name: string } | { page: 'events'; filter: string };

export function parseRoute(hash: string): Route {
  const path = hash.replace(/^#/, '');
  const terminal = parseTerminalRoute(path);
  if (terminal) return terminal;
  const backups = parseBackupsRoute(path);
  if (backups) return backups;
  const node = /^\/nodes\/([^/]+)$/.exec(path);
  if (node) return { page: 'node', name: decodeURIComponent(node[1]) };
  const logs = /^\/apps\/([^/]+)\/logs$/.exec(path);
  if (logs) return { page: 'app-logs', name: decodeURIComponent(logs[1]) };
  const app = /^\/apps\/([^/]+)$/.exec(path);
  if (app) return { page: 'app', name: decodeURIComponent(app[1]) };
  if (path === '/apps') return { page: 'apps' };
  if (path === '/audit') return { page: 'audit' };
  const events = /^\/events(?:\?q=(.*))?$/.exec(path);
  if (events) return { page: 'events', filter: decodeURIComponent(events[1] ?? '') };
  return { page: 'nodes' };
}

export function routeHref(route: Route): string {
  switch (route.page) {
    case 'nodes':
      return '#/nodes';
    case 'apps':
      return '#/apps';
    case 'audit':
      return '#/audit';
    case 'node':
      return `#/nodes/${encodeURIComponent(route.name)}`;
    case 'app':
      return `#/apps/${encodeURIComponent(route.name)}`;
    case 'app-logs':
      return `#/apps/${encodeURIComponent(route.name)}/logs`;
    case 'events':
      return route.filter ? `#/events?q=${encodeURIComponent(route.filter)}` : '#/events';
    case 'backups':
      return backupsRouteHref(route);
    case 'terminal':
    case 'recordings':
    case 'recording':
      return terminalRouteHref(route);
  }
}

class Router {
  route = $state<Route>(typeof location === 'undefined' ? { page: 'nodes' } : parseRoute(location.hash));
  constructor() {
    if (typeof window !== 'undefined') window.addEventListener('hashchange', () => (this.route = parseRoute(location.hash)));
  }
  go(route: Route): void {
    location.hash = routeHref(route);
  }
}

export const router = new Router();
