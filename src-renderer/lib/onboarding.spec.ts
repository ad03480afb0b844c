import { describe, expect, it } from 'vitest';
import { applyProgress, failedStep, initialSteps, markFailed } from './onboarding';

describe('onboarding steps view', () => {
  it('follows progress and marks the running step failed when the call fails', () => {
    let s = initialSteps();
    s = applyProgress(s, { step: 'connect', index: 1, total: 7, state: 'done', message: 'connected', durationMs: 120 });
    s = applyProgress(s, { step: 'detect', index: 2, total: 7, state: 'running', message: 'detecting' });
    expect(s.connect).toEqual({ state: 'done', message: 'connected', durationMs: 120 });
    s = markFailed(s, 'boom');
    expect(s.detect).toMatchObject({ state: 'failed', message: 'boom' });
    expect(s.install.state).toBe('pending');
  });
  it('keeps a failure the server reported', () => {
    let s = applyProgress(initialSteps(), { step: 'install', index: 3, total: 7, state: 'failed', message: 'no sudo' });
    s = markFailed(s, 'other');
    expect(s.install.message).toBe('no sudo');
    expect(s.connect.state).toBe('pending');
  });
  it('finds the failed step and its position', () => {
    expect(failedStep(initialSteps())).toBeNull();
    const s = markFailed(applyProgress(initialSteps(), { step: 'connect', index: 1, total: 7, state: 'done', message: 'ok' }), 'boom');
    expect(failedStep(s)).toEqual({ id: 'detect', index: 2, message: 'boom' });
  });
});
