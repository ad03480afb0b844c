// Deploys and rollbacks started from this window, per app, with their live step progress. Kept
// outside the page so that leaving the app's page and coming back still shows a running deploy.
import { ApiError, type ApiClient, type ReleaseSummary } from '../../src-main/api/contract';
import { applyDeployProgress, initialDeploySteps, markDeployFailed, type DeployStepsView } from './deploy-progress';

export interface DeployRun {
  app: string;
  kind: 'deploy' | 'rollback';
  // The image asked for (deploy), or the release rolled back to.
  image?: string;
  to?: number;
  // The new release's number, known from the first progress message.
  release?: number;
  steps: DeployStepsView;
  state: 'running' | 'live' | 'failed';
  result?: ReleaseSummary;
  error?: { code?: string; message: string; hint?: string };
  startedAt: number;
  finishedAt?: number;
}

class DeployRuns {
  private runs = $state<Record<string, DeployRun>>({});

  of(app: string): DeployRun | undefined {
    return this.runs[app];
  }

  running(app: string): boolean {
    return this.runs[app]?.state === 'running';
  }

  dismiss(app: string): void {
    if (this.runs[app]?.state !== 'running') delete this.runs[app];
  }

  async deploy(client: ApiClient, app: string, image?: string): Promise<void> {
    await this.run(app, { kind: 'deploy', ...(image ? { image } : {}) }, (onProgress) =>
      client.call('apps.deploy', { name: app, ...(image ? { image } : {}) }, onProgress),
    );
  }

  async rollback(client: ApiClient, app: string, to: number): Promise<void> {
    await this.run(app, { kind: 'rollback', to }, (onProgress) => client.call('apps.rollback', { name: app, to }, onProgress));
  }

  private async run(
    app: string,
    what: Pick<DeployRun, 'kind' | 'image' | 'to'>,
    call: (onProgress: (p: Parameters<typeof applyDeployProgress>[1]) => void) => Promise<ReleaseSummary>,
  ): Promise<void> {
    if (this.running(app)) return;
    this.runs[app] = { app, ...what, steps: initialDeploySteps(), state: 'running', startedAt: Date.now() };
    const r = this.runs[app];
    try {
      r.result = await call((p) => {
        r.release = p.release;
        r.steps = applyDeployProgress(r.steps, p);
      });
      r.release = r.result.number;
      r.state = 'live';
    } catch (err) {
      r.error = err instanceof ApiError ? { code: err.code, message: err.message, hint: err.hint } : { message: (err as Error).message };
      r.steps = markDeployFailed(r.steps, r.error.message);
      r.state = 'failed';
    } finally {
      r.finishedAt = Date.now();
    }
  }
}

export const deployRuns = new DeployRuns();
