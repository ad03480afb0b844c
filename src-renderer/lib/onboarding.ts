// The Add Node dialog's view of an onboarding run: one row per step, updated from progress
// messages. Pure, unit-tested in onboarding.spec.ts.
import { OnboardStepId, type OnboardProgress } from '../../src-main/api/contract';

export type StepState = OnboardProgress['state'] | 'pending';
export interface StepView {
  state: StepState;
  message: string;
  durationMs?: number;
}
export type StepsView = Record<OnboardStepId, StepView>;

export const STEP_LABELS: Record<OnboardStepId, string> = {
  connect: 'Connect',
  detect: 'Detect system',
  install: 'Install packages',
  'podman-socket': 'Podman socket',
  upload: 'Upload agent',
  service: 'Start service',
  handshake: 'Handshake',
};

export function initialSteps(): StepsView {
  return Object.fromEntries(OnboardStepId.options.map((id) => [id, { state: 'pending', message: '' }])) as StepsView;
}

export function applyProgress(steps: StepsView, p: OnboardProgress): StepsView {
  return { ...steps, [p.step]: { state: p.state, message: p.message, durationMs: p.durationMs } };
}

// The call failed: the step that was running (or the first not finished) shows the error.
export function markFailed(steps: StepsView, message: string): StepsView {
  const ids = OnboardStepId.options;
  if (ids.some((id) => steps[id].state === 'failed')) return steps;
  const target = ids.find((id) => steps[id].state === 'running') ?? ids.find((id) => steps[id].state === 'pending');
  if (!target) return steps;
  return { ...steps, [target]: { ...steps[target], state: 'failed', message } };
}

// The step that failed, if any, with its 1-based position.
export function failedStep(steps: StepsView): { id: OnboardStepId; index: number; message: string } | null {
  const i = OnboardStepId.options.findIndex((id) => steps[id].state === 'failed');
  if (i < 0) return null;
  const id = OnboardStepId.options[i];
  return { id, index: i + 1, message: steps[id].message };
}
