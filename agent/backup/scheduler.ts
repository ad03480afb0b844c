// Runs the node's enabled policies on their cron schedules (croner, in each policy's time zone),
// also while the control plane is closed. A policy never runs twice at once: a tick that comes
// during its run is skipped with a warning. A failed scheduled run is retried retryAttempts
// times, retryDelayMs apart. replace() swaps every schedule at once.
import { Cron } from 'croner';
import type { NodeEventSink } from '../../proto/node-events';
import type { Logger } from '../logger';
import type { NodePolicy } from './policies';
import type { RunTrigger } from './run-backup';
import type { RecordedRun } from './run-index';

export interface SchedulerDeps {
  // Runs the policy unless it is running already (then 'busy').
  run(policy: NodePolicy, trigger: RunTrigger, attempt: number): Promise<RecordedRun | 'busy'>;
  events?: NodeEventSink;
  log: Logger;
}

export class BackupScheduler {
  private jobs: { policyId: string; cron: Cron }[] = [];
  private policies = new Map<string, NodePolicy>();
  private readonly retries = new Map<string, NodeJS.Timeout>();
  private stopped = false;

  constructor(private readonly deps: SchedulerDeps) {}

  replace(policies: NodePolicy[]): void {
    for (const job of this.jobs) job.cron.stop();
    this.jobs = [];
    this.policies = new Map(policies.map((p) => [p.id, p]));
    for (const [id, timer] of this.retries) {
      if (this.policies.get(id)?.enabled) continue;
      clearTimeout(timer);
      this.retries.delete(id);
    }
    if (this.stopped) return;
    for (const policy of policies) {
      if (!policy.enabled) continue;
      for (const expression of policy.schedules) {
        this.jobs.push({ policyId: policy.id, cron: new Cron(expression, { timezone: policy.timezone }, () => void this.tick(policy.id)) });
      }
    }
    this.deps.log.info({ event: 'backup_schedules_set', policies: policies.filter((p) => p.enabled).length, schedules: this.jobs.length }, `backup schedules set: ${this.jobs.length}`);
  }

  // The next time each enabled policy runs (for logs and tests).
  nextRuns(): Record<string, number | null> {
    const out: Record<string, number | null> = {};
    for (const { policyId, cron } of this.jobs) {
      const next = cron.nextRun()?.getTime() ?? null;
      const known = out[policyId];
      out[policyId] = next === null ? (known ?? null) : known == null ? next : Math.min(known, next);
    }
    return out;
  }

  stop(): void {
    this.stopped = true;
    for (const job of this.jobs) job.cron.stop();
    this.jobs = [];
    for (const timer of this.retries.values()) clearTimeout(timer);
    this.retries.clear();
  }

  private async tick(policyId: string): Promise<void> {
    const policy = this.policies.get(policyId);
    if (!policy || this.stopped) return;
    if (this.retries.has(policyId)) {
      clearTimeout(this.retries.get(policyId));
      this.retries.delete(policyId);
    }
    await this.attempt(policy, 'schedule', 1);
  }

  private async attempt(policy: NodePolicy, trigger: RunTrigger, attempt: number): Promise<void> {
    let result: RecordedRun | 'busy';
    try {
      result = await this.deps.run(policy, trigger, attempt);
    } catch (err) {
      this.deps.log.error({ event: 'backup_run_crashed', policyId: policy.id, err: (err as Error).message }, 'a scheduled backup crashed');
      return;
    }
    if (result === 'busy') {
      const message = `backup of policy ${policy.name} skipped at its ${trigger === 'retry' ? 'retry' : 'scheduled time'}: its previous run is still going`;
      this.deps.log.warn({ event: 'backup_skipped', policyId: policy.id, trigger, attempt }, message);
      this.deps.events?.emit({ kind: 'agent.warning', severity: 'warning', app: policy.app, message, data: { policyId: policy.id, trigger, attempt } });
      return;
    }
    if (result.status !== 'failed' || attempt > policy.retryAttempts || this.stopped) return;
    const timer = setTimeout(() => {
      this.retries.delete(policy.id);
      const current = this.policies.get(policy.id);
      if (current && !this.stopped) void this.attempt(current, 'retry', attempt + 1);
    }, policy.retryDelayMs);
    timer.unref?.();
    this.retries.set(policy.id, timer);
    this.deps.log.info({ event: 'backup_retry_scheduled', policyId: policy.id, attempt: attempt + 1, delayMs: policy.retryDelayMs }, `backup of policy ${policy.name} is retried in ${policy.retryDelayMs} ms`);
  }
}
