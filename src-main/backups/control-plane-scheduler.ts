// Runs the control-plane policies' schedules while the control plane runs (croner, in each
// policy's time zone). A policy never runs twice at once; a failed run is retried per policy.
import { Cron } from 'croner';
import { specOf, type PolicyRow } from './policy-store';
import type { RunRow, RunTrigger } from './run-store';

export interface SchedulerDeps {
  policies: () => PolicyRow[];
  run: (policy: PolicyRow, trigger: RunTrigger, attempt: number) => Promise<RunRow>;
  log: (msg: string, extra?: Record<string, unknown>) => void;
}

export class ControlPlaneScheduler {
  private crons: Cron[] = [];
  private retries = new Set<NodeJS.Timeout>();
  private running = new Set<string>();
  private stopped = true;

  constructor(private d: SchedulerDeps) {}

  start(): void {
    this.stopped = false;
    this.reload();
  }

  // Re-reads the policies (after one was set or removed).
  reload(): void {
    for (const c of this.crons) c.stop();
    this.crons = [];
    if (this.stopped) return;
    for (const policy of this.d.policies()) {
      const spec = specOf(policy);
      if (!spec.enabled) continue;
      for (const expr of spec.schedules) {
        this.crons.push(new Cron(expr, { timezone: spec.timezone }, () => void this.fire(policy.id, 'schedule', 1)));
      }
    }
  }

  // Whether a run of the policy is under way (a manual run waits for none: it is refused).
  busy(policyId: string): boolean {
    return this.running.has(policyId);
  }

  // Runs now unless a run of the policy is under way; used for manual runs too.
  async runExclusive(policy: PolicyRow, trigger: RunTrigger, attempt: number, run = this.d.run): Promise<RunRow | null> {
    if (this.running.has(policy.id)) return null;
    this.running.add(policy.id);
    try {
      return await run(policy, trigger, attempt);
    } finally {
      this.running.delete(policy.id);
    }
  }

  stop(): void {
    this.stopped = true;
    for (const c of this.crons) c.stop();
    this.crons = [];
    for (const t of this.retries) clearTimeout(t);
    this.retries.clear();
  }

  private async fire(policyId: string, trigger: RunTrigger, attempt: number): Promise<void> {
    if (this.stopped) return;
    const policy = this.d.policies().find((p) => p.id === policyId);
    if (!policy) return;
    if (this.running.has(policyId)) {
      this.d.log('a control-plane backup is still running; this schedule tick is skipped', { policy: policy.name });
      return;
    }
    const row = await this.runExclusive(policy, trigger, attempt);
    if (!row || row.status !== 'failed') return;
    const spec = specOf(policy);
    if (attempt > spec.retryAttempts) {
      this.d.log('a control-plane backup failed after every attempt', { policy: policy.name, attempts: attempt, error: row.error });
      return;
    }
    const timer = setTimeout(() => {
      this.retries.delete(timer);
      void this.fire(policyId, 'retry', attempt + 1);
    }, spec.retryDelayMs);
    timer.unref();
    this.retries.add(timer);
  }
}
