// npm run bench: every benchmark, each printing its figures and a ratio against a baseline
// measured in the same run. Needs root and the test hosts (test/hosts/setup.sh).
import { benchAgentMemory } from './agent-memory.bench';
import { benchAgentSupervising } from './agent-supervising.bench';
import { benchBackup } from './backup.bench';
import { benchDeployUnderLoad } from './deploy-under-load.bench';
import { benchEventsThroughput } from './events-throughput.bench';
import { benchLazarusDetection } from './lazarus-detection.bench';
import { benchLogsThroughput } from './logs-throughput.bench';
import { benchOnboarding } from './onboarding.bench';
import { benchTerminal } from './terminal.bench';

const only = process.argv[2];
if (!only || only === 'onboarding') await benchOnboarding();
if (!only || only === 'memory') await benchAgentMemory();
if (!only || only === 'deploy') await benchDeployUnderLoad();
if (!only || only === 'logs') await benchLogsThroughput();
if (!only || only === 'lazarus') await benchLazarusDetection();
if (!only || only === 'events') await benchEventsThroughput();
if (!only || only === 'supervising') await benchAgentSupervising();
if (!only || only === 'terminal') await benchTerminal();
if (!only || only === 'backup') await benchBackup();
process.exit(0);
