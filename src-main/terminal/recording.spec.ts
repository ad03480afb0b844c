// Sealed asciicast recordings on real files: valid v2, standard XChaCha20-Poly1305 (noble opens
// a chunk), tampering detected on read, a crash recovered as interrupted at start with everything
// flushed, and nothing typed or shown in plain text anywhere in the data folder.
import { xchacha20poly1305 } from '@noble/ciphers/chacha.js';
import { mkdtempSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import type { CallContext } from '../api/router';
import { AuditLog } from '../audit';
import { createControlPlane, type ControlPlane } from '../control-plane';
import { deriveKey, recordingsKey, RECORDINGS_KEY_INFO } from '../crypto/derived-keys';
import { auditLog } from '../db/schema';
import { parseCast } from './asciicast';
import { readRecording } from './recording-reader';
import { REASON_INTERRUPTED } from './recording-recovery';
import { RecordingStore } from './recording-store';
import { RecordingWriter, recordingFile } from './recording-writer';

const MASTER = Buffer.alloc(32, 9);
const KEY = recordingsKey(MASTER);
const admin: CallContext = { actor: 'admin', source: 'cli' };
const header = (id: string) => ({ version: 2 as const, width: 80, height: 24, timestamp: 1_800_000_000, env: { TERM: 'xterm-256color' }, podploy: { session: id, node: 'n1', app: 'web', container: 'web-blue', actor: 'admin', source: 'cli' } });

const open: ControlPlane[] = [];
afterEach(async () => {
  while (open.length) await open.pop()!.close();
});

async function controlPlane(dir: string) {
  const cp = await createControlPlane({ dataDir: dir, agentBundlePath: join(dir, 'none'), masterKey: MASTER });
  open.push(cp);
  return cp;
}

function grepTree(dir: string, needle: string): string[] {
  const hits: string[] = [];
  for (const e of readdirSync(dir, { withFileTypes: true, recursive: true })) {
    if (!e.isFile()) continue;
    const path = join(e.parentPath, e.name);
    if (readFileSync(path).includes(Buffer.from(needle))) hits.push(path);
  }
  return hits;
}

async function readText(path: string, id: string, allowTruncated: boolean) {
  let text = '';
  const r = await readRecording(path, KEY, { id, allowTruncated }, (t) => void (text += t));
  return { ...r, text };
}

describe('recording keys', () => {
  it('derives a purpose key by HKDF: stable, distinct per info, not the master key', () => {
    expect(Buffer.from(recordingsKey(MASTER))).toEqual(Buffer.from(deriveKey(MASTER, RECORDINGS_KEY_INFO)));
    expect(Buffer.from(deriveKey(MASTER, 'podploy/backups/v1'))).not.toEqual(Buffer.from(KEY));
    expect(Buffer.from(KEY)).not.toEqual(MASTER);
    expect(() => deriveKey(Buffer.alloc(16), RECORDINGS_KEY_INFO)).toThrow('the master key must be 32 bytes');
  });
});

describe('sealed asciicast recording', () => {
  it('writes valid asciicast v2 (output coalesced, input, resize, UTF-8), 0600 in a 0700 folder, readable by noble', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'pp-rec-'));
    let now = 1_800_000_000_000;
    const w = await RecordingWriter.create({ dataDir: dir, id: 'rec_a', key: KEY, header: header('rec_a'), startedAt: now, now: () => now, chunkBytes: 256 });
    now += 500;
    w.output('hello ');
    w.output('wörld €\r\n');
    now += 250;
    w.input('ls -la\r');
    w.resize(120, 40);
    now += 1_000;
    w.output('x'.repeat(700));
    const bytes = await w.end();
    const path = join(dir, recordingFile('rec_a'));
    expect(bytes).toBe(statSync(path).size);
    expect(statSync(path).mode & 0o777).toBe(0o600);
    expect(statSync(join(dir, 'recordings')).mode & 0o777).toBe(0o700);

    const { text, truncated } = await readText(path, 'rec_a', false);
    expect(truncated).toBe(false);
    for (const line of text.trimEnd().split('\n')) expect(() => JSON.parse(line)).not.toThrow();
    const cast = parseCast(text);
    expect(cast.header).toEqual(header('rec_a'));
    expect(cast.events).toEqual([
      [0.5, 'o', 'hello wörld €\r\n'],
      [0.75, 'i', 'ls -la\r'],
      [0.75, 'r', '120x40'],
      [1.75, 'o', 'x'.repeat(700)],
    ]);

    // The file is standard XChaCha20-Poly1305: noble opens the first frame with the header as AAD.
    const sealed = readFileSync(path);
    const head = sealed.subarray(0, 52);
    const frameLen = sealed.readUInt32BE(52);
    const frame = sealed.subarray(52, 52 + 13 + frameLen);
    const nonce = Buffer.concat([head.subarray(12, 28), frame.subarray(5, 13)]);
    const aad = Buffer.concat([head, frame.subarray(5, 13), frame.subarray(4, 5)]);
    const plain = Buffer.from(xchacha20poly1305(KEY, nonce, aad).decrypt(frame.subarray(13)));
    expect(text.startsWith(plain.toString('utf8'))).toBe(true);
    expect(plain.length).toBeGreaterThan(0);
  });

  it('a flipped byte anywhere in a frame, a wrong key or a cut-off ended recording fail with code integrity', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'pp-rec-'));
    const w = await RecordingWriter.create({ dataDir: dir, id: 'rec_b', key: KEY, header: header('rec_b'), startedAt: Date.now(), chunkBytes: 128 });
    w.output('y\n'.repeat(500));
    await w.end();
    const path = join(dir, recordingFile('rec_b'));
    const good = readFileSync(path);
    for (const at of [60, Math.floor(good.length / 2), good.length - 3]) {
      const bad = Buffer.from(good);
      bad[at] ^= 0x01;
      writeFileSync(path, bad);
      const sent: string[] = [];
      await expect(readRecording(path, KEY, { id: 'rec_b', allowTruncated: true }, (t) => void sent.push(t))).rejects.toMatchObject({ code: 'integrity', message: expect.stringContaining('recording rec_b failed verification') });
    }
    writeFileSync(path, good);
    await expect(readRecording(path, deriveKey(MASTER, 'other'), { id: 'rec_b', allowTruncated: false }, () => undefined)).rejects.toMatchObject({ code: 'integrity', message: expect.stringContaining('another key') });
    writeFileSync(path, good.subarray(0, good.length - 40));
    await expect(readRecording(path, KEY, { id: 'rec_b', allowTruncated: false }, () => undefined)).rejects.toMatchObject({ code: 'integrity', message: expect.stringContaining('truncated') });
  });

  it('a crash keeps everything flushed: the next start closes the recording as interrupted, audits it, and reads it truncated; nothing typed is in plain text on disk', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'pp-rec-'));
    const secretTyped = 'echo TYPED-hunter2-secret';
    const secretShown = 'SHOWN-correct-horse-battery';
    const cp1 = await controlPlane(dir);
    const store = new RecordingStore(cp1.db);
    const startedAt = Date.now() - 10_000;
    store.insert({ id: 'rec_c', actor: 'alice', source: 'browser', nodeId: 'n-0', nodeName: 'n1', app: 'web', container: 'web-blue', command: [], tty: true, cols: 80, rows: 24, startedAt, state: 'live', file: recordingFile('rec_c') });
    let now = startedAt;
    const w = await RecordingWriter.create({ dataDir: dir, id: 'rec_c', key: KEY, header: header('rec_c'), startedAt, now: () => now });
    now += 1_000;
    w.input(secretTyped + '\r');
    now += 1_500;
    w.output(secretShown + '\r\n');
    await w.flushed();
    now += 5_000;
    w.output('after the last flush: lost in the crash');
    // The crash: the writer is abandoned here (no end, no final chunk), the process stops.
    await cp1.close();
    open.length = 0;

    expect(grepTree(dir, secretTyped)).toEqual([]);
    expect(grepTree(dir, 'hunter2')).toEqual([]);
    expect(grepTree(dir, secretShown)).toEqual([]);

    const cp2 = await controlPlane(dir);
    const row = new RecordingStore(cp2.db).byId('rec_c')!;
    expect(row).toMatchObject({ state: 'interrupted', endReason: REASON_INTERRUPTED, endedAt: startedAt + 2_500, exitCode: null, inputBytes: secretTyped.length + 1, outputBytes: secretShown.length + 2 });
    expect(row.bytes).toBe(statSync(join(dir, row.file)).size);
    const audits = cp2.db.select().from(auditLog).all();
    expect(audits).toEqual([expect.objectContaining({ actor: 'alice', source: 'browser', action: 'terminal.session', target: 'app/web', result: 'error' })]);
    expect(audits[0].detail).toContain('recording rec_c');
    expect(audits[0].detail).not.toContain('hunter2');

    let text = '';
    const read = await cp2.router.invoke('recordings.read', { id: 'rec_c' }, admin, (c) => (text += c.text));
    expect(read).toMatchObject({ truncated: true, recording: { state: 'interrupted' } });
    expect(parseCast(text).events).toEqual([
      [1, 'i', secretTyped + '\r'],
      [2.5, 'o', secretShown + '\r\n'],
    ]);
    // Read back and audited: still nothing in plain text, and the audit says who read it.
    expect(grepTree(dir, 'hunter2')).toEqual([]);
    expect(new AuditLog(cp2.db).list(1)[0]).toMatchObject({ action: 'recording.read', target: 'recording/rec_c', result: 'ok' });
    await w.end().catch(() => undefined);
  });
});

describe('recordings API: delete and retention', () => {
  it('delete removes file and row (audited); retention expires old finished recordings (audited as system) and 0 keeps all', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'pp-rec-'));
    const cp = await controlPlane(dir);
    const store = new RecordingStore(cp.db);
    const deleted: string[] = [];
    cp.router.subscribe('recordings.deleted', (p) => deleted.push(p.id));
    const day = 86_400_000;
    const make = async (id: string, endedDaysAgo: number | null) => {
      const w = await RecordingWriter.create({ dataDir: dir, id, key: KEY, header: header(id), startedAt: Date.now() });
      const bytes = await w.end();
      const started = Date.now() - (endedDaysAgo ?? 0) * day - 1_000;
      store.insert({ id, actor: 'bob', source: 'cli', nodeId: 'n-0', nodeName: 'n1', app: null, container: '', command: [], tty: true, cols: 80, rows: 24, startedAt: started, state: endedDaysAgo === null ? 'live' : 'ended', file: recordingFile(id), bytes });
      if (endedDaysAgo !== null) store.finish(id, { endedAt: Date.now() - endedDaysAgo * day, exitCode: 0, endReason: 'exited', state: 'ended', bytes });
    };
    await make('rec_old', 100);
    await make('rec_mid', 20);
    await make('rec_new', 1);
    await make('rec_live', null);

    expect(await cp.router.invoke('recordings.retention', {}, admin)).toEqual({ days: 90 });
    expect(await cp.router.invoke('recordings.setRetention', { days: 0 }, admin)).toEqual({ days: 0, deleted: 0 });
    expect(await cp.router.invoke('recordings.setRetention', { days: 30 }, admin)).toEqual({ days: 30, deleted: 1 });
    expect(deleted).toEqual(['rec_old']);
    await expect(cp.router.invoke('recordings.delete', { id: 'rec_live' }, admin)).rejects.toMatchObject({ code: 'conflict' });
    expect(await cp.router.invoke('recordings.delete', { id: 'rec_mid' }, admin)).toEqual({ id: 'rec_mid' });
    await expect(cp.router.invoke('recordings.get', { id: 'rec_mid' }, admin)).rejects.toMatchObject({ code: 'not_found' });
    expect(readdirSync(join(dir, 'recordings')).sort()).toEqual(['rec_live.cast.sealed', 'rec_new.cast.sealed']);
    expect((await cp.router.invoke('recordings.list', { node: 'n1' }, admin)).map((r) => r.id)).toEqual(['rec_live', 'rec_new']);
    const audit = new AuditLog(cp.db).list(10).map((a) => [a.actor, a.action, a.target, a.result]);
    expect(audit).toEqual([
      ['admin', 'recording.delete', 'recording/rec_mid', 'ok'],
      ['admin', 'recording.delete', 'recording/rec_live', 'error'],
      ['admin', 'recording.retention', 'recordings', 'ok'],
      ['system', 'recording.expire', 'recording/rec_old', 'ok'],
      ['admin', 'recording.retention', 'recordings', 'ok'],
    ]);
  });
});
