// npm run bench: every benchmark, each printing its figures and a ratio against a baseline
// measured in the same run. Needs root and the test hosts (test/hosts/setup.sh).
import { benchAgentMemory } from './agent-memory.bench';
import { benchDeployUnderLoad } from './deploy-under-load.bench';
import { benchLogsThroughput } from './logs-throughput.bench';
import { benchOnboarding } from './onboarding.bench';

const only = process.argv[2];
if (!only || only === 'onboarding') await benchOnboarding();
if (!only || only === 'memory') await benchAgentMemory();
if (!only || only === 'deploy') await benchDeployUnderLoad();
if (!only || only === 'logs') await benchLogsThroughput();
process.exit(0);
