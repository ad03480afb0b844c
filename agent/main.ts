// podploy-agent: run | supervise | version [--config PATH]
import { resolve } from 'node:path';
import { parseArgs, USAGE } from './cli-args';
import { loadAgentConfig } from './config';
import { stdoutLogger } from './logger';
import { runAgent } from './run';
import { startSupervisor, SupervisorAlreadyRunning } from './supervisor/supervisor';
import { AGENT_VERSION } from './version';

const EXIT_USAGE = 64;
const EXIT_ALREADY_RUNNING = 3;

async function main(argv: string[]): Promise<void> {
  let args: ReturnType<typeof parseArgs>;
  try {
    args = parseArgs(argv);
  } catch (err) {
    console.error(`${(err as Error).message}\n${USAGE}`);
    process.exit(EXIT_USAGE);
  }
  switch (args.command) {
    case 'version':
      console.log(AGENT_VERSION);
      return;
    case 'run':
      await runAgent(loadAgentConfig(args.configPath));
      return;
    case 'supervise':
      return supervise(args.configPath);
    default:
      console.error(USAGE);
      process.exit(EXIT_USAGE);
  }
}

function supervise(path: string): void {
  const configPath = resolve(path);
  const config = loadAgentConfig(configPath);
  const log = stdoutLogger(config.logLevel);
  let supervisor: ReturnType<typeof startSupervisor>;
  try {
    supervisor = startSupervisor({ config, configPath, log });
  } catch (err) {
    if (err instanceof SupervisorAlreadyRunning) {
      console.error(err.message);
      process.exit(EXIT_ALREADY_RUNNING);
    }
    throw err;
  }
  const shutdown = () => supervisor.stop().then(() => process.exit(0));
  process.on('SIGTERM', shutdown);
  process.on('SIGINT', shutdown);
}

main(process.argv.slice(2)).catch((err: Error) => {
  console.error(`podploy-agent: ${err.message}`);
  process.exit(1);
});
