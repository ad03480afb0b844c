// "Back up now" runs started from this window, per policy, with their live progress. Kept outside
// the pages so that the Backups page and an app's page show the same run, also after leaving and
// coming back.
import { ApiError, type ApiClient, type BackupRunSummary } from '../../src-main/api/contract';
import { applyProgress, initialProgress, type ProgressView } from './backup-progress';

export interface BackupJob {
  policy: string;
  state: 'running' | 'ok' | 'failed';
  progress: ProgressView;
  result?: BackupRunSummary;
  error?: { code?: string; message: string; hint?: string };
  startedAt: number;
  finishedAt?: number;
}

class BackupJobs {
  private jobs = $state<Record<string, BackupJob>>({});

  of(policy: string): BackupJob | undefined {
    return this.jobs[policy];
  }

  running(policy: string): boolean {
    return this.jobs[policy]?.state === 'running';
  }

  dismiss(policy: string): void {
    if (this.jobs[policy]?.state !== 'running') delete this.jobs[policy];
  }

  async run(client: ApiClient, policy: string): Promise<void> {
    if (this.running(policy)) return;
    const now = Date.now();
    this.jobs[policy] = { policy, state: 'running', progress: initialProgress(now), startedAt: now };
    const job = this.jobs[policy];
    try {
      job.result = await client.call('backups.run', { policy }, (p) => {
        job.progress = applyProgress(job.progress, p, Date.now());
      });
      job.state = job.result.status === 'failed' ? 'failed' : 'ok';
      if (job.result.status === 'failed') job.error = { message: job.result.error ?? 'the run failed without a reason' };
    } catch (err) {
      job.error = err instanceof ApiError ? { code: err.code, message: err.message, hint: err.hint } : { message: (err as Error).message };
      job.state = 'failed';
    } finally {
      job.finishedAt = Date.now();
    }
  }
}

export const backupJobs = new BackupJobs();
