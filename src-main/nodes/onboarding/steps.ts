import { ApiError, type OnboardProgress, type OnboardStepId } from '../../api/contract';

export const ONBOARD_STEPS: OnboardStepId[] = ['connect', 'detect', 'install', 'podman-socket', 'upload', 'service', 'handshake'];
// Steps that only look: their completion does not mean the server changed.
const READ_ONLY_STEPS: OnboardStepId[] = ['detect'];

export interface StepOutcome {
  state: 'done' | 'unchanged' | 'skipped';
  message: string;
  detail?: Record<string, unknown>;
}

// Runs the onboarding steps in order and reports each one's start, end and duration.
export class StepReporter {
  readonly timings: Partial<Record<OnboardStepId, number>> = {};
  changed = false;

  constructor(private progress: (p: OnboardProgress) => void) {}

  async run<T extends StepOutcome>(step: OnboardStepId, runningMessage: string, fn: () => Promise<T>): Promise<T> {
    const index = ONBOARD_STEPS.indexOf(step) + 1;
    const total = ONBOARD_STEPS.length;
    const started = performance.now();
    this.progress({ step, index, total, state: 'running', message: runningMessage });
    try {
      const outcome = await fn();
      const durationMs = Math.round(performance.now() - started);
      this.timings[step] = durationMs;
      if (outcome.state === 'done' && !READ_ONLY_STEPS.includes(step)) this.changed = true;
      this.progress({ step, index, total, state: outcome.state, message: outcome.message, durationMs, ...(outcome.detail ? { detail: outcome.detail } : {}) });
      return outcome;
    } catch (err) {
      const durationMs = Math.round(performance.now() - started);
      const e = err instanceof ApiError ? err : new ApiError('internal', err instanceof Error ? err.message : String(err));
      this.progress({ step, index, total, state: 'failed', message: e.message, durationMs, detail: { code: e.code, ...(e.hint ? { hint: e.hint } : {}) } });
      throw e;
    }
  }
}
