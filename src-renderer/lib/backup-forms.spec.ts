import { describe, expect, it } from 'vitest';
import { BackupPolicyInput, DestinationInput, type BackupPolicySummary, type DestinationSummary } from '../../src-main/api/contract';
import { BACKUP_DEFAULTS } from '../../proto/backup-defaults';
import { scheduleProblems } from '../../proto/backup-schedule';
import { destinationFormOf, destinationInputOf, newDestinationForm, newPolicyForm, policyFormOf, policyInputOf, restoreInputOf, scheduleProblem } from './backup-forms';

const NOW = Date.UTC(2025, 0, 1);

function webPolicy() {
  return { ...newPolicyForm('web'), volume: 'data', destinations: ['disk'] };
}

describe('policy form -> backups.policies.set input', () => {
  it('starts from every default and maps to an input the contract accepts with those defaults', () => {
    const { input, problems } = policyInputOf(webPolicy(), NOW);
    expect(problems.schedules).toEqual([null]);
    expect(input).toEqual({
      name: 'web-daily',
      app: 'web',
      source: { kind: 'volume', volume: 'data', consistency: 'live' },
      schedules: ['0 3 * * *'],
      timezone: 'UTC',
      destinations: ['disk'],
      retention: { last: 3, daily: 7, weekly: 4, monthly: 6 },
      retryAttempts: BACKUP_DEFAULTS.retryAttempts,
      retryDelayMs: BACKUP_DEFAULTS.retryDelayMs,
      enabled: true,
    });
    // What the server would store is exactly what the form says.
    expect(BackupPolicyInput.parse(input)).toEqual(input);
  });

  it('shows the server\'s exact reason for a bad cron beside that schedule', () => {
    const f = { ...webPolicy(), schedules: ['0 3 * * *', '61 3 * * *', '* * * * *'] };
    const { input, problems } = policyInputOf(f, NOW);
    expect(input).toBeNull();
    expect(problems.schedules[0]).toBeNull();
    expect(problems.schedules[1]).toBe(scheduleProblems(['61 3 * * *'], 'UTC', NOW)[0]);
    expect(problems.schedules[1]).toMatch(/^schedule "61 3 \* \* \*" is not a valid cron expression: /);
    expect(problems.schedules[2]).toBe('schedule "* * * * *" fires more often than every 5 minutes');
    expect(scheduleProblem('', 'UTC')).toMatch(/enter a cron expression/);
  });

  it('reports a bad zone once, on the zone, and checks schedules in UTC meanwhile', () => {
    const { problems } = policyInputOf({ ...webPolicy(), timezone: 'Mars/Olympus' }, NOW);
    expect(problems.timezone).toBe("time zone 'Mars/Olympus' is not an IANA time zone (e.g. UTC, Europe/Paris, America/New_York)");
    expect(problems.schedules).toEqual([null]);
  });

  it('says what is missing, in words that say what to do', () => {
    const { problems } = policyInputOf({ ...newPolicyForm('web'), name: 'Bad Name', retention: { last: '0', daily: '0', weekly: '0', monthly: '0' }, retryAttempts: 'x' }, NOW);
    expect(problems.name).toBe('a policy name is 1-63 lowercase letters, digits or dashes');
    expect(problems.source).toMatch(/named volumes/);
    expect(problems.destinations).toMatch(/at least one destination/);
    expect(problems.retention).toMatch(/retention keeps nothing/);
    expect(problems.retries).toMatch(/whole number from 0/);
  });

  it('maps database sources and PodPloy state', () => {
    const pg = policyInputOf({ ...webPolicy(), kind: 'postgres', database: 'shop', dbUser: 'app', passwordSecret: 'PGPASSWORD' }, NOW).input!;
    expect(pg.source).toEqual({ kind: 'postgres', database: 'shop', user: 'app', passwordSecret: 'PGPASSWORD' });
    const state = policyInputOf({ ...newPolicyForm(), name: 'state', destinations: ['disk'] }, NOW).input!;
    expect(state.source).toEqual({ kind: 'control-plane' });
    expect(state.app).toBeUndefined();
    expect(policyInputOf({ ...webPolicy(), retryDelayMinutes: '0.5' }, NOW).input!.retryDelayMs).toBe(30_000);
  });

  it('edits a stored policy without changing what was not touched', () => {
    const input = policyInputOf({ ...webPolicy(), schedules: ['0 2 * * *', '@weekly'], timezone: 'Europe/Paris', consistency: 'pause', retention: { last: '5', daily: '7', weekly: '4', monthly: '12' } }, NOW).input!;
    const stored: BackupPolicySummary = {
      ...(BackupPolicyInput.parse(input) as Omit<BackupPolicySummary, 'id' | 'node' | 'nextRuns' | 'lastRun' | 'pushed' | 'pushError' | 'createdAt' | 'updatedAt' | 'app'>),
      app: 'web',
      id: 'p1',
      node: 'n1',
      nextRuns: [],
      lastRun: null,
      pushed: true,
      pushError: null,
      createdAt: 0,
      updatedAt: 0,
    };
    expect(policyInputOf(policyFormOf(stored), NOW).input).toEqual(input);
  });
});

describe('destination form -> backups.destinations.set input', () => {
  it('maps an S3 destination', () => {
    const f = { ...newDestinationForm('s3'), name: 'minio', endpoint: 'http://127.0.0.1:9000', bucket: 'bk', forcePathStyle: true, accessKeyId: 'AK', secretAccessKey: 's3cr3t' };
    const { input, problems } = destinationInputOf(f);
    expect(problems).toEqual({});
    expect(input).toEqual({ kind: 's3', name: 'minio', endpoint: 'http://127.0.0.1:9000', bucket: 'bk', forcePathStyle: true, accessKeyId: 'AK', secretAccessKey: 's3cr3t' });
    expect(DestinationInput.parse(input)).toEqual(input);
  });
  it('gives the contract\'s words per field and needs SFTP credentials', () => {
    const { input, problems } = destinationInputOf({ ...newDestinationForm('sftp'), name: 'box', host: 'h', user: 'u', folder: '/b', hostKeyFingerprint: 'MD5:aa' });
    expect(input).toBeNull();
    expect(problems.hostKeyFingerprint).toBe('the host key fingerprint is SHA256:... as ssh-keygen -lf prints it');
    expect(problems.privateKey).toBe('an SFTP destination needs a private key or a password');
  });
  it('pre-fills only the non-secret settings when replacing', () => {
    const d: DestinationSummary = {
      id: 'd1',
      name: 'minio',
      kind: 's3',
      settings: { endpoint: 'http://127.0.0.1:9000', bucket: 'bk', forcePathStyle: true, accessKeyId: 'AK' },
      secrets: ['secretAccessKey'],
      where: 's3://bk',
      createdAt: 0,
      createdBy: 'admin',
    };
    const f = destinationFormOf(d);
    expect(f).toMatchObject({ kind: 's3', name: 'minio', bucket: 'bk', forcePathStyle: true, accessKeyId: 'AK', secretAccessKey: '' });
    // Without the secret typed again it is not sent half-made.
    expect(destinationInputOf(f).problems.secretAccessKey).toBeDefined();
  });
});

describe('restore form -> backups.restore input', () => {
  const base = { destination: '', mode: 'new' as const, target: 'data-restored-abc', into: '', confirmText: '' };
  it('restores into a new target by default', () => {
    expect(restoreInputOf('r1', 'web', base)).toEqual({ input: { run: 'r1', mode: 'new', target: 'data-restored-abc' }, problem: null });
    expect(restoreInputOf('r1', 'web', { ...base, destination: 'disk', into: 'staging' }).input).toEqual({ run: 'r1', mode: 'new', destination: 'disk', target: 'data-restored-abc', into: 'staging' });
  });
  it('restores over the app only with its name typed', () => {
    expect(restoreInputOf('r1', 'web', { ...base, mode: 'over', confirmText: 'we' })).toEqual({ input: null, problem: "type web to confirm restoring over the app's own data" });
    expect(restoreInputOf('r1', 'web', { ...base, mode: 'over', confirmText: 'web' }).input).toEqual({ run: 'r1', mode: 'over', confirm: true });
  });
});
