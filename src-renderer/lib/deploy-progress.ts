// The view of one deploy or rollback as it runs: a row per step of the zero-downtime path,
// updated from the call's progress messages. Pure, unit-tested in deploy-progress.spec.ts.
import type { DeployProgress } from '../../src-main/api/contract';

export const DEPLOY_STEP_NAMES = ['image', 'start', 'health', 'switch', 'drain', 'stop'] as const;
export type DeployStepName = (typeof DEPLOY_STEP_NAMES)[number];

export const DEPLOY_STEP_LABELS: Record<DeployStepName, string> = {
  image: 'Get the image',
  start: 'Start beside the old',
  health: 'Wait until healthy',
  switch: 'Put into service',
  drain: 'Drain the old',
  stop: 'Stop the old',
};

// How many of the latest build/pull log lines a step keeps on screen.
export const STEP_LOG_LINES = 5;

export type DeployStepState = DeployProgress['state'] | 'pending';
export interface DeployStepView {
  state: DeployStepState;
  message: string;
  durationMs?: number;
  // The latest lines a running step reported after its first message (a build's log).
  log: string[];
}
export type DeployStepsView = Record<DeployStepName, DeployStepView>;

export function initialDeploySteps(): DeployStepsView {
  const pending = (): DeployStepView => ({ state: 'pending', message: '', log: [] });
  return Object.fromEntries(DEPLOY_STEP_NAMES.map((n) => [n, pending()])) as DeployStepsView;
}

function stepOf(p: DeployProgress): DeployStepName | null {
  if ((DEPLOY_STEP_NAMES as readonly string[]).includes(p.name)) return p.name as DeployStepName;
  return DEPLOY_STEP_NAMES[p.step - 1] ?? null;
}

export function applyDeployProgress(steps: DeployStepsView, p: DeployProgress): DeployStepsView {
  const name = stepOf(p);
  if (!name) return steps;
  const prev = steps[name];
  if (p.state === 'running' && prev.state === 'running') {
    // A further message of a running step is a line of its log (e.g. `podman build` output).
    const log = [...prev.log, ...p.message.split(/\r?\n/).filter((l) => l.trim())].slice(-STEP_LOG_LINES);
    return { ...steps, [name]: { ...prev, log } };
  }
  return { ...steps, [name]: { state: p.state, message: p.message, durationMs: p.durationMs ?? prev.durationMs, log: p.state === 'running' ? [] : prev.log } };
}

// The call failed without a step saying so (refused, connection lost): the running step, or
// the first one not finished, shows the error.
export function markDeployFailed(steps: DeployStepsView, message: string): DeployStepsView {
  if (DEPLOY_STEP_NAMES.some((n) => steps[n].state === 'failed')) return steps;
  const target = DEPLOY_STEP_NAMES.find((n) => steps[n].state === 'running') ?? DEPLOY_STEP_NAMES.find((n) => steps[n].state === 'pending');
  if (!target) return steps;
  return { ...steps, [target]: { ...steps[target], state: 'failed', message } };
}

// "3/6": the steps finished so far.
export function stepsDone(steps: DeployStepsView): number {
  return DEPLOY_STEP_NAMES.filter((n) => steps[n].state === 'done').length;
}
