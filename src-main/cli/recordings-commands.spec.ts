import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import type { RecordingSummary } from '../api/contract';
import { createControlPlane } from '../control-plane';
import { recordingsKey } from '../crypto/derived-keys';
import { startHttpServer } from '../server/http-server';
import { parseCast } from '../terminal/asciicast';
import { RecordingStore } from '../terminal/recording-store';
import { RecordingWriter, recordingFile } from '../terminal/recording-writer';
import { exitCodeFor } from './terminal-commands';
import { playbackDelays, recordingsQuery } from './recordings-commands';

const ROOT = join(__dirname, '..', '..');
const TSX = join(ROOT, 'node_modules', '.bin', 'tsx');
const MAIN = join(ROOT, 'src-main', 'cli', 'main.ts');
const MASTER = Buffer.alloc(32, 3);

const cleanup: (() => Promise<void>)[] = [];
afterEach(async () => {
  while (cleanup.length) await cleanup.pop()!();
});

describe('podploy recordings and exec: flags', () => {
  it('builds the list query and refuses a bad limit', () => {
    const now = Date.UTC(2026, 10, 27, 9);
    expect(recordingsQuery({}, now)).toEqual({ limit: 50 });
    expect(recordingsQuery({ node: 'n1', app: 'web', user: 'alice', since: '2h', limit: '5' }, now)).toEqual({ limit: 5, node: 'n1', app: 'web', actor: 'alice', sinceMs: now - 7_200_000 });
    expect(() => recordingsQuery({ limit: '0' })).toThrow("--limit '0' is not a whole number from 1 to 10000");
  });

  it('plays with speed and idle limit; exit codes map into 0..255', () => {
    expect(playbackDelays([[0.5, 'o', 'a'], [10.5, 'o', 'b'], [11, 'o', 'c']], 2, 3)).toEqual([250, 1500, 250]);
    expect([0, 3, null, -1, 256, 300].map(exitCodeFor)).toEqual([0, 3, 255, 255, 255, 44]);
  });
});

describe('podploy recordings against a real control plane (podploy serve in-process)', () => {
  it('list --json prints the index; export writes the decrypted cast to stdout or a 0600 file; a tampered one fails', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'pp-cli-rec-'));
    const cp = await createControlPlane({ dataDir: dir, agentBundlePath: join(dir, 'none'), masterKey: MASTER });
    const http = await startHttpServer(cp, '127.0.0.1:0');
    cleanup.push(async () => {
      await http.close();
      await cp.close();
    });
    const startedAt = Date.now() - 60_000;
    let now = startedAt;
    const w = await RecordingWriter.create({ dataDir: dir, id: 'rec_cli', key: recordingsKey(MASTER), startedAt, now: () => now, header: { version: 2, width: 80, height: 24, timestamp: Math.floor(startedAt / 1000), env: { TERM: 'xterm-256color' }, podploy: { session: 'rec_cli', node: 'n1', app: 'web', container: 'web-blue', actor: 'admin', source: 'cli' } } });
    now += 1_000;
    w.input('uname\r');
    now += 200;
    w.output('Linux ✓\r\n');
    const bytes = await w.end();
    const store = new RecordingStore(cp.db);
    store.insert({ id: 'rec_cli', actor: 'admin', source: 'cli', nodeId: 'n-0', nodeName: 'n1', app: 'web', container: 'web-blue', command: [], tty: true, cols: 80, rows: 24, startedAt, state: 'live', file: recordingFile('rec_cli') });
    store.finish('rec_cli', { endedAt: startedAt + 2_000, exitCode: 0, endReason: 'exited', state: 'ended', bytes, inputBytes: 6, outputBytes: 11 });

    const run = (...args: string[]) =>
      new Promise<{ code: number; stdout: string; stderr: string }>((resolve) => {
        execFile(TSX, [MAIN, '--url', http.url, '--token', cp.firstAdminToken!, ...args], { cwd: ROOT }, (err, stdout, stderr) => resolve({ code: err ? ((err as { code?: number }).code ?? 1) : 0, stdout, stderr }));
      });

    const list = await run('recordings', 'list', '--app', 'web', '--json');
    expect(list).toMatchObject({ code: 0, stderr: '' });
    const rows = JSON.parse(list.stdout) as RecordingSummary[];
    expect(rows).toEqual([expect.objectContaining({ id: 'rec_cli', actor: 'admin', node: 'n1', app: 'web', exitCode: 0, durationMs: 2_000, state: 'ended', bytes })]);
    expect(JSON.parse((await run('recordings', 'list', '--app', 'api', '--json')).stdout)).toEqual([]);

    const exported = await run('recordings', 'export', 'rec_cli');
    expect(exported).toMatchObject({ code: 0, stderr: '' });
    const cast = parseCast(exported.stdout);
    expect(cast.header.podploy.session).toBe('rec_cli');
    expect(cast.events).toEqual([
      [1, 'i', 'uname\r'],
      [1.2, 'o', 'Linux ✓\r\n'],
    ]);
    const file = join(dir, 'out.cast');
    expect(await run('recordings', 'export', 'rec_cli', '-o', file)).toMatchObject({ code: 0, stdout: '' });
    expect(readFileSync(file, 'utf8')).toBe(exported.stdout);
    expect(statSync(file).mode & 0o777).toBe(0o600);

    const sealed = join(dir, recordingFile('rec_cli'));
    const bad = readFileSync(sealed);
    bad[bad.length - 5] ^= 0x10;
    writeFileSync(sealed, bad);
    const failed = await run('recordings', 'export', 'rec_cli');
    expect(failed.code).toBe(1);
    expect(failed.stderr).toContain('error: recording rec_cli failed verification');
    expect((await run('recordings', 'export', 'rec_nope')).stderr).toContain("error: no recording 'rec_nope'");
  }, 60_000);
});
