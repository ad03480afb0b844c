import { describe, expect, it } from 'vitest';
import type { DeployProgress } from '../../src-main/api/contract';
import { applyDeployProgress, DEPLOY_STEP_NAMES, initialDeploySteps, markDeployFailed, STEP_LOG_LINES, stepsDone } from './deploy-progress';

const p = (name: string, state: DeployProgress['state'], message = '', durationMs?: number): DeployProgress => ({
  release: 2,
  step: DEPLOY_STEP_NAMES.indexOf(name as never) + 1,
  total: 6,
  name,
  state,
  message,
  ...(durationMs !== undefined ? { durationMs } : {}),
});

describe('deploy progress', () => {
  it('starts with the six steps pending, in order', () => {
    const s = initialDeploySteps();
    expect(Object.keys(s)).toEqual(['image', 'start', 'health', 'switch', 'drain', 'stop']);
    expect(Object.values(s).every((x) => x.state === 'pending' && x.log.length === 0)).toBe(true);
  });

  it('follows each step from running to done, with its message and duration', () => {
    let s = initialDeploySteps();
    s = applyDeployProgress(s, p('image', 'running', 'getting the image', 0));
    expect(s.image).toEqual({ state: 'running', message: 'getting the image', durationMs: 0, log: [] });
    s = applyDeployProgress(s, p('image', 'done', 'localhost/a:v1 is on the node', 120));
    s = applyDeployProgress(s, p('start', 'running', 'starting'));
    expect(s.image).toMatchObject({ state: 'done', message: 'localhost/a:v1 is on the node', durationMs: 120 });
    expect(stepsDone(s)).toBe(1);
    expect(s.start.state).toBe('running');
  });

  it('keeps the latest build lines that arrive as further running messages of a step', () => {
    let s = applyDeployProgress(initialDeploySteps(), p('image', 'running', 'building'));
    for (let i = 1; i <= 8; i++) s = applyDeployProgress(s, p('image', 'running', `STEP ${i}/8`));
    s = applyDeployProgress(s, p('image', 'running', 'line a\nline b\n'));
    expect(s.image.message).toBe('building');
    expect(s.image.log).toHaveLength(STEP_LOG_LINES);
    expect(s.image.log).toEqual(['STEP 6/8', 'STEP 7/8', 'STEP 8/8', 'line a', 'line b']);
    s = applyDeployProgress(s, p('image', 'done', 'built', 900));
    expect(s.image.log.at(-1)).toBe('line b');
  });

  it('finds the step by its index when the name is unknown, and ignores what fits nowhere', () => {
    const s = applyDeployProgress(initialDeploySteps(), { release: 1, step: 3, total: 6, name: 'checking', state: 'running', message: 'x' });
    expect(s.health.state).toBe('running');
    const same = initialDeploySteps();
    expect(applyDeployProgress(same, { release: 1, step: 9, total: 6, name: 'nope', state: 'running', message: '' })).toBe(same);
  });

  it('marks the running step failed when the call fails without a step saying so', () => {
    let s = applyDeployProgress(initialDeploySteps(), p('image', 'done', 'ok'));
    s = applyDeployProgress(s, p('start', 'running', 'starting'));
    expect(markDeployFailed(s, 'connection lost').start).toMatchObject({ state: 'failed', message: 'connection lost' });
    expect(markDeployFailed(initialDeploySteps(), 'refused').image.state).toBe('failed');
    const failed = applyDeployProgress(s, p('health', 'failed', 'unhealthy'));
    expect(markDeployFailed(failed, 'other')).toBe(failed);
  });
});
