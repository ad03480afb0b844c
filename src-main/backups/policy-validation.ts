// Everything a policy is checked for before anything changes, each problem saying what to fix.
import { eq } from 'drizzle-orm';
import { CONTROL_PLANE_SOURCE } from '../../proto/backup-defaults';
import { retentionProblems } from '../../proto/backup-retention';
import { scheduleProblems } from '../../proto/backup-schedule';
import { ApiError, AppSpec } from '../api/contract';
import type { Db } from '../db/database';
import { apps } from '../db/schema';
import type { DestinationStore } from './destination-store';
import type { PolicySpec } from './policy-store';

export interface PolicyTarget {
  appId: string | null;
  nodeId: string | null;
}

export function policyProblems(spec: PolicySpec, d: { db: Db; destinations: DestinationStore; secretNames?: (appId: string) => string[] }): { problems: string[]; target: PolicyTarget } {
  const problems: string[] = [];
  let target: PolicyTarget = { appId: null, nodeId: null };
  const source = spec.source;
  if (source.kind === CONTROL_PLANE_SOURCE) {
    if (spec.app) problems.push(`a control-plane policy backs up PodPloy's own state, not an app: leave out the app ('${spec.app}')`);
  } else if (!spec.app) {
    problems.push(`a ${source.kind} policy needs the app whose ${source.kind === 'volume' ? 'volume' : 'database'} it backs up (--app NAME)`);
  } else {
    const app = d.db.select().from(apps).where(eq(apps.name, spec.app)).get();
    if (!app) {
      problems.push(`no app named '${spec.app}' (list apps with \`podploy app list\`)`);
    } else {
      target = { appId: app.id, nodeId: app.nodeId };
      const appSpec = AppSpec.parse(app.spec);
      if (source.kind === 'volume') {
        const names = appSpec.volumes.map((v) => v.name);
        if (!names.includes(source.volume)) {
          problems.push(
            names.length
              ? `app '${spec.app}' has no named volume '${source.volume}'; its volumes are ${names.map((n) => `'${n}'`).join(', ')}`
              : `app '${spec.app}' has no named volumes; add one to its spec (volumes) and deploy it, then back it up`,
          );
        }
      }
      if ((source.kind === 'postgres' || source.kind === 'mysql') && source.passwordSecret && d.secretNames) {
        const secrets = d.secretNames(app.id);
        if (!secrets.includes(source.passwordSecret)) {
          problems.push(`app '${spec.app}' has no secret '${source.passwordSecret}' for the database password; set it with \`podploy secrets set ${spec.app} ${source.passwordSecret}=...\``);
        }
      }
    }
  }
  problems.push(...scheduleProblems(spec.schedules, spec.timezone));
  problems.push(...retentionProblems(spec.retention));
  const seen = new Set<string>();
  for (const name of spec.destinations) {
    if (seen.has(name)) problems.push(`destination '${name}' is listed twice`);
    seen.add(name);
    if (!d.destinations.byName(name)) problems.push(`no backup destination named '${name}'; add it first with \`podploy backup destination set\``);
  }
  return { problems, target };
}

export function assertPolicyValid(spec: PolicySpec, d: Parameters<typeof policyProblems>[1]): PolicyTarget {
  const { problems, target } = policyProblems(spec, d);
  if (problems.length) {
    throw new ApiError('invalid_input', `backup policy '${spec.name}' was not saved: ${problems.join('; ')}`, 'fix what is named and set the policy again; nothing was changed');
  }
  return target;
}
