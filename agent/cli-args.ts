// The command line of the agent bundle.

export const DEFAULT_CONFIG_PATH = 'config.json';
export const USAGE = `usage: podploy-agent <command> [--config PATH]
  run         serve the agent's gRPC API (mutual TLS)
  supervise   keep \`run\` (and Podman's REST service when configured) alive without systemd
  version     print the agent version`;

export function parseArgs(argv: string[]): { command: string; configPath: string } {
  const [command = '', ...rest] = argv;
  let configPath = DEFAULT_CONFIG_PATH;
  for (let i = 0; i < rest.length; i++) {
    if (rest[i] === '--config' && rest[i + 1]) configPath = rest[++i];
    else if (rest[i].startsWith('--config=')) configPath = rest[i].slice('--config='.length);
    else throw new Error(`unknown argument: ${rest[i]}`);
  }
  return { command, configPath };
}

