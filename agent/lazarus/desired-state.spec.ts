import { generateKeyPairSync } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pino from 'pino';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { CommandEnvelope } from '../../proto/gen/podploy/agent/v1/agent';
import { signCommand } from '../../proto/signing';
import { DESIRED_STATE_FILE, DesiredStateStore } from './desired-state';

const { privateKey, publicKey } = generateKeyPairSync('ed25519');
const other = generateKeyPairSync('ed25519');
let dir: string;
let lines: string[];
const log = () => pino({ level: 'info' }, { write: (l: string) => void lines.push(l) });
const deploy = (app: string, release = 'r1', key = privateKey, nodeId = 'n1') => {
  const signed = signCommand({ nodeId, actor: 'alice', deployApp: { app, release, image: 'localhost/x:1' } as never }, key, { now: Date.now() - 3_600_000 });
  return { signed, envelope: CommandEnvelope.decode(signed.payload) };
};

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'podploy-desired-'));
  lines = [];
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

describe('DesiredStateStore', () => {
  it('keeps the signed deploy (an hour old: expiry does not matter) and the running wish across a reload', () => {
    const store = new DesiredStateStore(dir, publicKey, 'n1', log());
    const web = deploy('web');
    store.deployed(web.signed, web.envelope);
    expect(store.setRunning('web', false, 'node')).toBe(true);
    expect(store.setRunning('ghost', false)).toBe(false);
    const again = new DesiredStateStore(dir, publicKey, 'n1', log());
    expect(again.apps()).toEqual(['web']);
    expect(again.get('web')).toMatchObject({ app: 'web', running: false, stoppedBy: 'node', deploy: { app: 'web', release: 'r1' } });
    expect(Buffer.from(again.get('web')?.signed.payload as Buffer)).toEqual(web.signed.payload);
    // A new deploy runs again.
    const r2 = deploy('web', 'r2');
    again.deployed(r2.signed, r2.envelope);
    expect(new DesiredStateStore(dir, publicKey, 'n1').get('web')).toMatchObject({ running: true, stoppedBy: undefined, deploy: { release: 'r2' } });
    expect(statSync(join(dir, DESIRED_STATE_FILE)).mode & 0o777).toBe(0o600);
    again.forget('web');
    expect(new DesiredStateStore(dir, publicKey, 'n1').apps()).toEqual([]);
  });

  it('ignores, with a log line that says why, entries that were changed, signed by another key, for another node or another app', () => {
    const store = new DesiredStateStore(dir, publicKey, 'n1');
    for (const [app, d] of [
      ['changed', deploy('changed')],
      ['foreign', deploy('foreign', 'r1', other.privateKey)],
      ['elsewhere', deploy('elsewhere', 'r1', privateKey, 'n2')],
      ['swapped', deploy('someone-else')],
      ['good', deploy('good')],
    ] as const) {
      store.deployed(d.signed, { ...d.envelope, deployApp: { ...d.envelope.deployApp, app } as never });
    }
    const file = join(dir, DESIRED_STATE_FILE);
    const stored = JSON.parse(readFileSync(file, 'utf8'));
    const payload = Buffer.from(stored.changed.deploy.payload, 'base64');
    payload[10] ^= 1;
    stored.changed.deploy.payload = payload.toString('base64');
    writeFileSync(file, JSON.stringify(stored));
    const reloaded = new DesiredStateStore(dir, publicKey, 'n1', log());
    expect(reloaded.apps()).toEqual(['good']);
    const reasons = Object.fromEntries(lines.map((l) => JSON.parse(l)).map((l) => [l.app, l.reason]));
    expect(reasons.changed).toContain('bad_signature');
    expect(reasons.foreign).toContain('bad_signature');
    expect(reasons.elsewhere).toContain('wrong_node');
    expect(reasons.swapped).toBe('the signed deploy is for app "someone-else"');
    expect(lines.map((l) => JSON.parse(l).msg).join('\n')).toContain('Lazarus leaves the app alone until it is deployed again');
  });
});
