import { describe, expect, it } from 'vitest';
import type { ImageInfo } from '../podman/images';
import { withRegistryDigest } from './deploy-app';

const LOCAL = `sha256:${'1'.repeat(64)}`;
const REMOTE = `sha256:${'2'.repeat(64)}`;
const image = (repoDigests: string[]): ImageInfo => ({ id: 'abc', digest: LOCAL, repoDigests, repoTags: [], labels: {}, sizeBytes: 0 });

describe('the digest a release records', () => {
  it("is the registry's digest for the reference's repository when Podman knows it", () => {
    const got = withRegistryDigest('127.0.0.1:5000/team/app:reg1', image([`localhost/testapp@${LOCAL}`, `127.0.0.1:5000/team/app@${REMOTE}`]));
    expect(got.digest).toBe(REMOTE);
  });

  it('matches Docker Hub short names the way Podman writes them', () => {
    expect(withRegistryDigest('nginx:1.27', image([`docker.io/library/nginx@${REMOTE}`])).digest).toBe(REMOTE);
  });

  it("is Podman's own digest otherwise (a local build, another repository)", () => {
    expect(withRegistryDigest('localhost/testapp:v1', image([])).digest).toBe(LOCAL);
    expect(withRegistryDigest('127.0.0.1:5000/team/app:reg1', image([`127.0.0.1:5000/team/other@${REMOTE}`])).digest).toBe(LOCAL);
  });
});
