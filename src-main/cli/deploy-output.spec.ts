import { describe, expect, it } from 'vitest';
import type { DeployProgress } from '../api/contract';
import { deployProgressPrinter, wantsColor } from './deploy-output';

const ev = (state: DeployProgress['state'], message: string, step = 1, name = 'image'): DeployProgress => ({ release: 3, step, total: 6, name, state, message });

describe('deploy progress on the terminal', () => {
  it('prints the step title once and the step log lines after it, dimmed when in colour', () => {
    const out: string[] = [];
    const print = deployProgressPrinter((t) => out.push(t), { color: true });
    print(ev('running', 'getting the image'));
    print(ev('running', 'STEP 1/2: FROM localhost/podploy-test-app:latest'));
    print(ev('running', 'STEP 2/2: ENV APP_VERSION=git1'));
    print({ ...ev('done', 'built localhost/podploy-web:r3'), durationMs: 900 });
    print(ev('running', 'creating and starting', 2, 'start'));
    expect(out[0]).toMatch(/^v3 \[1\/6\] . image +getting the image\n$/);
    expect(out[1]).toBe('\u001b[2mv3 [1/6]   │ STEP 1/2: FROM localhost/podploy-test-app:latest\u001b[22m\n');
    expect(out[2]).toContain('│ STEP 2/2: ENV APP_VERSION=git1');
    expect(out[3]).toMatch(/^v3 \[1\/6\] . image +built localhost\/podploy-web:r3 \(900 ms\)\n$/);
    expect(out[4]).not.toContain('│');
  });

  it('prints plain lines without colour', () => {
    const out: string[] = [];
    const print = deployProgressPrinter((t) => out.push(t), { color: false });
    print(ev('running', 'getting the image'));
    print(ev('running', 'a build line'));
    expect(out[1]).toBe('v3 [1/6]   │ a build line\n');
  });

  it('colours a terminal, honours NO_COLOR and FORCE_COLOR', () => {
    expect(wantsColor({ isTTY: true }, {})).toBe(true);
    expect(wantsColor({ isTTY: false }, {})).toBe(false);
    expect(wantsColor({ isTTY: true }, { NO_COLOR: '1' })).toBe(false);
    expect(wantsColor({ isTTY: false }, { FORCE_COLOR: '1' })).toBe(true);
    expect(wantsColor({ isTTY: true }, { FORCE_COLOR: '0' })).toBe(false);
  });
});
