import { generateKeyPairSync } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { CommandRejected, signCommand } from '../proto/signing';
import type { IngressTlsSettings } from '../proto/ingress-tls';
import { CommandExecutor, InvalidCommand, UnknownCommand } from './commands';
import { fileLogger } from './logger';
import { LabelsStore } from './state/labels-store';
import { NonceFileStore } from './state/nonce-file-store';

const { privateKey, publicKey } = generateKeyPairSync('ed25519');
let dir: string;
let executor: () => CommandExecutor;

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'podploy-commands-'));
  executor = () =>
    new CommandExecutor({
      nodeId: 'n1',
      commandKey: publicKey,
      nonces: new NonceFileStore(dir),
      labels: new LabelsStore(dir),
      log: fileLogger(dir),
    });
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

const logLines = () => readFileSync(join(dir, 'agent.log'), 'utf8').trim().split('\n').map((l) => JSON.parse(l));

describe('CommandExecutor', () => {
  it('applies SetLabels and refuses the same command after a restart', async () => {
    const signed = signCommand({ nodeId: 'n1', actor: 'alice', setLabels: { labels: { a: '1' } } }, privateKey);
    expect(await executor().execute(signed)).toEqual({ ok: true, message: 'labels set (1)', labels: { a: '1' } });
    expect(new LabelsStore(dir).get()).toEqual({ a: '1' });
    const restarted = executor();
    await expect(restarted.execute(signed)).rejects.toThrow(CommandRejected);
    expect(logLines().map((l) => [l.event, l.reason])).toEqual([
      ['command_applied', undefined],
      ['command_rejected', 'replayed'],
    ]);
  });

  it('logs the reason of a rejection and changes nothing', async () => {
    const signed = signCommand({ nodeId: 'n2', actor: 'mallory', setLabels: { labels: { a: '1' } } }, privateKey);
    await expect(executor().execute(signed)).rejects.toThrow(/wrong_node/);
    expect(new LabelsStore(dir).get()).toEqual({});
    expect(logLines()[0]).toMatchObject({ event: 'command_rejected', reason: 'wrong_node', level: 40 });
  });

  it('refuses a signed command of no known kind', async () => {
    await expect(executor().execute(signCommand({ nodeId: 'n1', actor: 'alice' }, privateKey))).rejects.toThrow(UnknownCommand);
  });

  it('hands SetIngressSettings to the ingress, and refuses invalid settings with nothing changed', async () => {
    const applied: IngressTlsSettings[] = [];
    const withIngress = new CommandExecutor({
      nodeId: 'n1',
      commandKey: publicKey,
      nonces: new NonceFileStore(dir),
      labels: new LabelsStore(dir),
      log: fileLogger(dir),
      ingress: { setTlsSettings: async (s) => (applied.push(s), { changed: true, loaded: true }) },
    });
    const settings = { acmeDirectory: 'https://acme.test/dir', acmeEmail: 'ops@example.com', acmeCaRootPem: '', httpRedirect: 'all' };
    const res = await withIngress.execute(signCommand({ nodeId: 'n1', actor: 'alice', setIngressSettings: settings }, privateKey));
    expect(res).toMatchObject({ ok: true, message: 'TLS settings applied, Caddy reloaded: ACME https://acme.test/dir (ops@example.com), redirect all' });
    expect(applied).toEqual([settings]);
    const bad = signCommand({ nodeId: 'n1', actor: 'alice', setIngressSettings: { ...settings, acmeDirectory: 'http://acme.test/dir', httpRedirect: 'sometimes' } }, privateKey);
    await expect(withIngress.execute(bad)).rejects.toThrow(InvalidCommand);
    await expect(withIngress.execute(signCommand({ nodeId: 'n1', actor: 'alice', setIngressSettings: settings }, privateKey)).then(() => applied.length)).resolves.toBe(2);
    // Without an ingress the agent says so instead of pretending.
    await expect(executor().execute(signCommand({ nodeId: 'n1', actor: 'alice', setIngressSettings: settings }, privateKey))).rejects.toThrow(/without an ingress/);
  });

  it('hands SetAppRunning to Lazarus, names it in the log, and refuses a malformed app name', async () => {
    const calls: [string, boolean][] = [];
    const withLazarus = new CommandExecutor({
      nodeId: 'n1',
      commandKey: publicKey,
      nonces: new NonceFileStore(dir),
      labels: new LabelsStore(dir),
      lazarus: { setRunning: async (app, running) => (calls.push([app, running]), `${app} stopped on purpose`) },
      log: fileLogger(dir),
    });
    const stop = signCommand({ nodeId: 'n1', actor: 'alice', setAppRunning: { app: 'web', running: false } }, privateKey);
    expect(await withLazarus.execute(stop)).toEqual({ ok: true, message: 'web stopped on purpose', labels: {} });
    expect(calls).toEqual([['web', false]]);
    expect(logLines().at(-1)).toMatchObject({ event: 'command_applied', command: 'set_app_running' });
    const bad = signCommand({ nodeId: 'n1', actor: 'alice', setAppRunning: { app: 'Web!', running: true } }, privateKey);
    await expect(withLazarus.execute(bad)).rejects.toThrow(InvalidCommand);
    expect(calls).toHaveLength(1);
    await expect(executor().execute(signCommand({ nodeId: 'n1', actor: 'alice', setAppRunning: { app: 'web', running: true } }, privateKey))).rejects.toThrow(UnknownCommand);
  });
});
