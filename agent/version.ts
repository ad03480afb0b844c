// Replaced at bundle time by scripts/build-agent.mjs with package.json's version.
declare const __PODPLOY_AGENT_VERSION__: string | undefined;

export const AGENT_VERSION: string = typeof __PODPLOY_AGENT_VERSION__ === 'string' ? __PODPLOY_AGENT_VERSION__ : '0.0.0-dev';
