import { describe, expect, it } from 'vitest';
import { PodmanError } from '../podman/client';
import { imageStepFailure, pullFailureKind, pullPolicy } from './image-source';

const podmanSays = (text: string, cause?: string) => new PodmanError(`image x: pull: Podman at /s answered: ${text}`, '/s', undefined, cause);

describe('pull policy', () => {
  it('never pulls localhost/, pulls a named registry every time, and a digest or short name only when missing', () => {
    expect(pullPolicy('localhost/testapp:v1')).toBe('never');
    expect(pullPolicy('127.0.0.1:5000/testapp:v1')).toBe('always');
    expect(pullPolicy('ghcr.io/o/app:latest')).toBe('always');
    expect(pullPolicy('ghcr.io/o/app@sha256:' + 'b'.repeat(64))).toBe('if-missing');
    expect(pullPolicy('nginx:1.27')).toBe('if-missing');
  });
});

describe('pull failures, told apart', () => {
  it('classifies what Podman reports', () => {
    expect(pullFailureKind(podmanSays('initializing source docker://127.0.0.1:5000/a:1: reading manifest 1 in 127.0.0.1:5000/a: unauthorized: authentication required', 'unauthorized'))).toBe('unauthorized');
    expect(pullFailureKind(podmanSays('reading manifest nope in 127.0.0.1:5000/a: manifest unknown: manifest unknown', 'not found'))).toBe('not-found');
    expect(pullFailureKind(podmanSays('pinging container registry 127.0.0.1:5001: Get "https://127.0.0.1:5001/v2/": dial tcp 127.0.0.1:5001: connect: connection refused'))).toBe('unreachable');
    expect(pullFailureKind(podmanSays('pinging container registry 127.0.0.1:5000: Get "https://127.0.0.1:5000/v2/": http: server gave HTTP response to HTTPS client'))).toBe('tls');
    expect(pullFailureKind(new Error('something else'))).toBe('other');
  });

  it('says which failure it was and what to do', () => {
    const ref = '127.0.0.1:5000/team/app:v2';
    expect(imageStepFailure(ref, podmanSays('unauthorized', 'unauthorized'), { user: 'ci' })).toMatch(/^bad credentials: registry 127\.0\.0\.1:5000 refused user 'ci' for team\/app:v2; log in again/);
    expect(imageStepFailure(ref, podmanSays('unauthorized', 'unauthorized'), {})).toMatch(/requires credentials .* PodPloy has none for it; run `podploy registry login 127\.0\.0\.1:5000/);
    expect(imageStepFailure(ref, podmanSays('manifest unknown', 'not found'), { user: 'ci' })).toMatch(/^no such image: registry 127\.0\.0\.1:5000 has no team\/app:v2/);
    expect(imageStepFailure(ref, podmanSays('dial tcp: connection refused'), {})).toMatch(/^registry unreachable: the node cannot reach 127\.0\.0\.1:5000/);
    expect(imageStepFailure(ref, podmanSays('server gave HTTP response to HTTPS client'), {})).toMatch(/--insecure/);
  });
});
