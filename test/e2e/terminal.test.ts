// Recorded terminals end to end on test host h11: the real control plane and CLI, a WebSocket
// client exactly as the browser's, the agent over SSH + mTLS gRPC, rootless Podman's exec API,
// and a real Chromium for the UI. Every session must come back as a sealed asciicast v2
// recording that plays in asciinema, with an audit row, and leave nothing running on the node.
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TERMINAL_FLOW } from '../../proto/terminal-defaults';
import { ApiError, type ApiClient, type RecordingSummary, type TerminalEvent, type TerminalOpenInput, type TerminalResult } from '../../src-main/api/contract';
import { connectApi, type Connection } from '../../src-main/cli/api-connection';
import { prepareAppHost, type AppHost } from '../support/app-host';
import { AGENT_DIR_OF, operator, readPid, sh, waitFor } from '../support/harness';
import { launchUi, LoginPage, RecordingPlayer, screenshot, TerminalPage } from '../support/ui-pages';

const NODE = 'h11';
const APP = 'shellbox';
let x: AppHost;
let api: Connection;

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const marker = (what: string) => `${what}-${randomBytes(6).toString('hex')}`;

// A terminal session driven as the UI drives it: output collected, acknowledged as it is "shown".
class Session {
  id = '';
  output = '';
  opened: Extract<TerminalEvent, { kind: 'opened' }> | null = null;
  readonly result: Promise<TerminalResult>;
  private readonly call: ReturnType<ApiClient['stream']>;
  private unacked = 0;
  private readonly ready: Promise<void>;

  constructor(
    private readonly client: ApiClient,
    input: TerminalOpenInput,
    private readonly ack = true,
  ) {
    let opened!: () => void;
    this.ready = new Promise((r) => (opened = r));
    this.call = client.stream('terminal.open', input, (e) => {
      if (e.kind === 'opened') {
        this.opened = e;
        this.id = e.session;
        opened();
        return;
      }
      this.output += e.data;
      if (this.output.length > 4 * 1024 * 1024) this.output = this.output.slice(-1024 * 1024);
      this.unacked += e.data.length;
      if (this.ack && this.unacked >= TERMINAL_FLOW.ackEveryChars) {
        void this.client.call('terminal.ack', { session: this.id, chars: this.unacked });
        this.unacked = 0;
      }
    });
    this.result = this.call.result as Promise<TerminalResult>;
  }

  async open(): Promise<this> {
    await Promise.race([this.ready, this.result.then((r) => Promise.reject(new Error(`ended before it opened: ${r.reason}`)))]);
    return this;
  }

  type(data: string): Promise<unknown> {
    return this.client.call('terminal.input', { session: this.id, data });
  }

  resize(cols: number, rows: number): Promise<unknown> {
    return this.client.call('terminal.resize', { session: this.id, cols, rows });
  }

  async waitOutput(re: RegExp, timeoutMs = 15_000): Promise<RegExpMatchArray> {
    return waitFor(`output matching ${re}`, () => this.output.match(re), timeoutMs, 20);
  }

  close(): void {
    this.call.cancel();
  }
}

async function readRecording(id: string): Promise<{ cast: string; truncated: boolean }> {
  let cast = '';
  const r = await x.hx.cp.router.invoke('recordings.read', { id }, operator, (c) => (cast += c.text));
  return { cast, truncated: r.truncated };
}

type CastEvent = [number, string, string];
function parseCast(cast: string): { header: Record<string, unknown>; events: CastEvent[] } {
  const lines = cast.split('\n').filter(Boolean);
  const header = JSON.parse(lines[0]) as Record<string, unknown>;
  const events = lines.slice(1).map((l) => JSON.parse(l) as CastEvent);
  return { header, events };
}

function recordingFile(rec: RecordingSummary): string {
  const row = x.hx.cp.db.$client.prepare('SELECT file FROM recordings WHERE id = ?').get(rec.id) as { file: string };
  return join(x.hx.dataDir, row.file);
}

// Processes of the node's user whose command line holds `needle`.
function nodeProcesses(needle: string): string[] {
  return sh(`pgrep -u ${x.user} -a -f '${needle}' || true`).trim().split('\n').filter(Boolean);
}

beforeAll(async () => {
  x = await prepareAppHost(NODE);
  x.buildVersion('v1');
  const r = await x.hx.cli(['app', 'create', APP, '--node', NODE, '--image', 'localhost/testapp:v1', '--domain', 'shellbox.test']);
  expect(r.code, r.stderr).toBe(0);
  const d = await x.hx.cli(['deploy', APP]);
  expect(d.code, d.stderr).toBe(0);
  api = await connectApi(x.hx.url, x.hx.token, 'browser');
}, 300_000);

afterAll(async () => {
  api?.close();
  await x?.close();
});

describe('a terminal into a container, recorded', () => {
  let recorded: RecordingSummary;
  const typed = marker('typed');

  it('runs what is typed, resizes, and exits with the shell exit code', async () => {
    const s = await new Session(api.client, { target: { kind: 'app', app: APP }, cols: 100, rows: 30 }).open();
    expect(s.opened?.banner).toMatch(/recorded/i);
    expect(s.opened?.container).toContain(APP);
    await s.type(`echo ${typed} | tr a-z A-Z\r`);
    await s.waitOutput(new RegExp(typed.toUpperCase()));
    await s.type('stty size\r');
    await s.waitOutput(/\b30 100\b/);
    await s.resize(132, 43);
    await s.type('stty size\r');
    await s.waitOutput(/\b43 132\b/);
    await s.type('exit 7\r');
    const result = await s.result;
    expect(result.exitCode).toBe(7);
    expect(result.recording.state).toBe('ended');
    recorded = result.recording;
  });

  it('decrypts to valid asciicast v2 with the input, the output and the resize, and asciinema plays it', async () => {
    const { cast, truncated } = await readRecording(recorded.id);
    expect(truncated).toBe(false);
    const { header, events } = parseCast(cast);
    expect(header).toMatchObject({ version: 2, width: 100, height: 30 });
    const input = events.filter((e) => e[1] === 'i').map((e) => e[2]).join('');
    const output = events.filter((e) => e[1] === 'o').map((e) => e[2]).join('');
    expect(input).toContain(`echo ${typed} | tr a-z A-Z`);
    expect(output).toContain(typed.toUpperCase());
    expect(events.filter((e) => e[1] === 'r').map((e) => e[2])).toContain('132x43');
    const times = events.map((e) => e[0]);
    expect([...times].sort((a, b) => a - b)).toEqual(times);
    // Outside the data folder: this is the operator's own plain-text export.
    const file = join(mkdtempSync(join(tmpdir(), 'pp-cast-')), 'export.cast');
    writeFileSync(file, cast);
    // asciinema wants a terminal of its own even to cat a file.
    expect(execFileSync('script', ['-qec', `asciinema cat ${file}`, '/dev/null'], { encoding: 'utf8' })).toContain(typed.toUpperCase());
  });

  it('keeps the typed text off every disk in plain text', () => {
    // The control plane's data folder (database, recordings, logs) and the agent's folder on the node.
    for (const dir of [x.hx.dataDir, AGENT_DIR_OF(x.user)]) {
      const hits = sh(`grep -rlaF -- '${typed}' '${dir}' || true`).trim();
      expect(hits, `plain text of the input in ${dir}`).toBe('');
    }
  });

  it('lists the session in the audit log and in the recordings', async () => {
    const audit = (await x.hx.cp.router.invoke('audit.list', { limit: 50 }, operator)).filter((a) => a.action === 'terminal.session' && a.detail.includes(recorded.id));
    expect(audit).toHaveLength(1);
    expect(audit[0]).toMatchObject({ actor: 'admin', source: 'browser', target: `app/${APP}`, result: 'ok' });
    expect(audit[0].detail).toMatch(/exit 7/);
    const list = await x.hx.cp.router.invoke('recordings.list', { app: APP }, operator);
    expect(list.map((r) => r.id)).toContain(recorded.id);
    expect(recorded).toMatchObject({ actor: 'admin', source: 'browser', node: NODE, app: APP, exitCode: 7 });
    expect(recorded.bytes).toBeGreaterThan(0);
  });

  it('detects a flipped byte in the recording and shows none of it', async () => {
    const file = recordingFile(recorded);
    const original = readFileSync(file);
    const bad = Buffer.from(original);
    bad[Math.floor(bad.length / 2)] ^= 0x01;
    writeFileSync(file, bad);
    try {
      let shown = '';
      const err = await x.hx.cp.router.invoke('recordings.read', { id: recorded.id }, operator, (c) => (shown += c.text)).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(ApiError);
      expect((err as ApiError).code).toBe('integrity');
      expect(shown).not.toContain(typed.toUpperCase());
    } finally {
      writeFileSync(file, original);
    }
  });
});

describe('in Chromium', () => {
  it('opens a terminal from the app page, runs a command, resizes, survives a flood, closes, and replays the same output', async () => {
    const ui = await launchUi();
    const { page } = ui;
    try {
      await page.goto(x.hx.url);
      await new LoginPage(page).login(x.hx.token);
      await page.goto(`${x.hx.url}/#/apps/${APP}`);
      await page.getByTestId('open-terminal').waitFor();
      await page.keyboard.press('t');
      const term = new TerminalPage(page);
      await term.waitState('live');
      await expect.poll(() => term.banner.innerText()).toMatch(/recorded/i);
      const recording = (await term.recordingId.innerText()).trim();
      expect(recording).toMatch(/^rec_/);

      const word = marker('chromium');
      await term.typeLine(`echo ${word} | tr a-z A-Z`);
      await expect.poll(() => term.text(), { timeout: 15_000 }).toContain(word.toUpperCase());
      await term.typeLine('stty size');
      await expect.poll(async () => /(\d+) (\d+)\s*$/m.exec((await term.text()).split(word.toUpperCase()).pop() ?? ''), { timeout: 10_000 }).toBeTruthy();
      const sizeAt = async () => {
        const lines = (await term.text()).trim().split('\n').filter((l) => /^\d+ \d+\s*$/.test(l.trim()));
        return lines[lines.length - 1]?.trim();
      };
      const before = await sizeAt();
      await page.setViewportSize({ width: 960, height: 600 });
      await sleep(400);
      await term.typeLine('clear; stty size');
      await expect.poll(sizeAt, { timeout: 10_000 }).not.toBe(before);
      await screenshot(page, 'terminal-01-live');

      // A flood for 10 s: the page must keep answering, and its memory must not run away.
      const heap = () => page.evaluate(() => (performance as unknown as { memory: { usedJSHeapSize: number } }).memory.usedJSHeapSize);
      const heapBefore = await heap();
      await term.typeLine('timeout 10 yes flood-line; echo flood-$((6*7))-over');
      const slowest: number[] = [];
      const floodEnds = Date.now() + 10_000;
      while (Date.now() < floodEnds) {
        const t0 = Date.now();
        await page.evaluate(() => document.title);
        slowest.push(Date.now() - t0);
        await sleep(250);
      }
      await expect.poll(() => term.text(), { timeout: 60_000 }).toContain('flood-42-over');
      const heapAfter = await heap();
      console.log(`flood in Chromium: slowest page answer ${Math.max(...slowest)} ms, JS heap ${(heapBefore / 1e6).toFixed(1)} -> ${(heapAfter / 1e6).toFixed(1)} MB`);
      // Liveness, not speed: a frozen page would not answer for seconds.
      expect(Math.max(...slowest)).toBeLessThan(3_000);
      expect(heapAfter - heapBefore).toBeLessThan(150e6);
      await screenshot(page, 'terminal-02-after-flood');

      await term.close.click();
      await term.waitState('ended');
      await term.replay.click();
      const player = new RecordingPlayer(page);
      await player.player.waitFor();
      // At its own pace (the player starts by itself): the output shows for the two seconds
      // before `clear` wiped it.
      await player.speed(1).click();
      if ((await player.toggle.getAttribute('aria-label')) === 'Play') await player.toggle.click();
      await expect.poll(() => player.text(), { timeout: 30_000, interval: 100 }).toContain(word.toUpperCase());
      await screenshot(page, 'terminal-03-replay');

      // The same recording, altered on disk: the player refuses it and shows none of it.
      const rec = await x.hx.cp.router.invoke('recordings.get', { id: recording }, operator);
      const file = recordingFile(rec);
      const original = readFileSync(file);
      const bad = Buffer.from(original);
      bad[100] ^= 0x40;
      writeFileSync(file, bad);
      try {
        await page.goto(`${x.hx.url}/#/recordings`);
        await page.goto(`${x.hx.url}/#/recordings/${recording}`);
        await expect.poll(() => player.error.getAttribute('data-code'), { timeout: 15_000 }).toBe('integrity');
        await expect.poll(() => player.error.innerText()).toMatch(/failed verification/i);
        await screenshot(page, 'terminal-04-tampered');
      } finally {
        writeFileSync(file, original);
      }
    } finally {
      await ui.close();
    }
  });
});

describe('sessions end cleanly', () => {
  it('closing the browser tab ends the remote process', async () => {
    const sleeper = `sleep 34${Math.floor(Math.random() * 1000)}`;
    const ui = await launchUi();
    try {
      await ui.page.goto(x.hx.url);
      await new LoginPage(ui.page).login(x.hx.token);
      await ui.page.goto(`${x.hx.url}/#/terminal/app/${APP}`);
      const term = new TerminalPage(ui.page);
      await term.waitState('live');
      await term.typeLine(sleeper);
      await waitFor('the sleep to run', () => nodeProcesses(sleeper).length > 0);
    } finally {
      await ui.close();
    }
    await waitFor('no process of the session left', () => nodeProcesses(sleeper).length === 0, 15_000);
  });

  it('a dropped SSH connection ends the session on both sides, and nothing is left running', async () => {
    const sleeper = `sleep 35${Math.floor(Math.random() * 1000)}`;
    const s = await new Session(api.client, { target: { kind: 'app', app: APP } }).open();
    await s.type(`${sleeper}\r`);
    await waitFor('the sleep to run', () => nodeProcesses(sleeper).length > 0);
    // The sshd processes of the control plane's connection die: the TCP connection is reset.
    sh(`pkill -9 -f '[s]shd: ${x.user}' || true`);
    const result = await s.result;
    expect(result.exitCode).toBe(null);
    expect(result.reason).toMatch(/connection to the agent broke/);
    expect(result.recording.state).toBe('ended');
    await waitFor('no process of the session left', () => nodeProcesses(sleeper).length === 0, 15_000);
    // The fleet reconnects by itself and a new session works.
    await waitFor('a new session', async () => {
      const again = await new Session(api.client, { target: { kind: 'app', app: APP }, command: ['true'], tty: false }).open().catch(() => null);
      return again ? (await again.result).exitCode === 0 : false;
    }, 60_000, 1_000);
  });

  it('closing the session ends the remote process and everything it started', async () => {
    const sleeper = `sleep 31${Math.floor(Math.random() * 1000)}`;
    const s = await new Session(api.client, { target: { kind: 'app', app: APP } }).open();
    await s.type(`${sleeper}\r`);
    await waitFor('the sleep to run', () => nodeProcesses(sleeper).length > 0);
    s.close();
    const result = await s.result;
    expect(result.exitCode).toBe(null);
    expect(result.reason).toMatch(/closed/);
    await waitFor('no process of the session left', () => nodeProcesses(sleeper).length === 0, 10_000);
  });

  it('a node shell runs as the agent user in a real terminal, and ends with it', async () => {
    const s = await new Session(api.client, { target: { kind: 'node', node: NODE }, cols: 90, rows: 20 }).open();
    await s.type('echo "user=$(id -un) tty=$(tty)"; stty size\r');
    await s.waitOutput(new RegExp(`user=${x.user} tty=/dev/pts/\\d+`));
    await s.waitOutput(/\b20 90\b/);
    await s.type('exit 3\r');
    expect((await s.result).exitCode).toBe(3);
  });

  it('the agent killed mid-session ends the session, keeps the recording closed, and leaves nothing running', async () => {
    const sleeper = `sleep 32${Math.floor(Math.random() * 1000)}`;
    const seen = marker('before-kill');
    const s = await new Session(api.client, { target: { kind: 'node', node: NODE } }).open();
    await s.type(`echo ${seen}; ${sleeper}\r`);
    await s.waitOutput(new RegExp(seen));
    await waitFor('the sleep to run', () => nodeProcesses(sleeper).length > 0);
    const agentPid = readPid(x.user, 'agent');
    expect(agentPid).toBeGreaterThan(0);
    process.kill(agentPid, 'SIGKILL');
    const result = await s.result;
    expect(result.exitCode).toBe(null);
    expect(result.reason).toMatch(/agent/);
    expect(result.recording.state).toBe('ended');
    const { cast, truncated } = await readRecording(result.recording.id);
    expect(truncated).toBe(false);
    expect(cast).toContain(seen);
    // The supervisor starts a new agent, which ends what the killed one left behind.
    await waitFor('a new agent', () => readPid(x.user, 'agent') !== agentPid && readPid(x.user, 'agent') > 0, 30_000);
    await waitFor('no process of the session left', () => nodeProcesses(sleeper).length === 0, 30_000);
  });

  it('refuses a container that does not exist or has stopped, with a clear error', async () => {
    const missing = await new Session(api.client, { target: { kind: 'app', app: 'no-such-app' } }).open().catch((e: unknown) => e);
    expect(missing).toBeInstanceOf(ApiError);
    expect((missing as ApiError).code).toBe('not_found');

    const stop = await x.hx.cli(['app', 'stop', APP]);
    expect(stop.code, stop.stderr).toBe(0);
    try {
      const stopped = await new Session(api.client, { target: { kind: 'app', app: APP } }).open().catch((e: unknown) => e);
      expect(stopped).toBeInstanceOf(ApiError);
      expect((stopped as ApiError).message).toMatch(/not running|stopped|exited/);
      expect((stopped as ApiError).hint ?? (stopped as ApiError).message).toMatch(/app start/);
    } finally {
      const start = await x.hx.cli(['app', 'start', APP]);
      expect(start.code, start.stderr).toBe(0);
    }
    await waitFor('the app running again', async () => (await x.get('shellbox.test', '/version')).status === 200, 30_000);
  });

  it('a flood of output slows to the reader and memory stays bounded', async () => {
    const s = await new Session(api.client, { target: { kind: 'app', app: APP }, command: ['yes'] }, false).open();
    const rssBefore = process.memoryUsage().rss;
    // Nothing is acknowledged: the server must stop at the high-water mark.
    await sleep(3_000);
    const stalled = s.output.length;
    expect(stalled).toBeGreaterThan(0);
    await sleep(1_000);
    expect(s.output.length - stalled).toBe(0);
    expect(stalled).toBeLessThanOrEqual(TERMINAL_FLOW.highWaterChars + 256 * 1024);
    s.close();
    const result = await s.result;
    expect(result.reason).toMatch(/closed/);
    const grew = (process.memoryUsage().rss - rssBefore) / 1024 / 1024;
    console.log(`flood without acks: ${stalled} chars delivered, then none; control plane RSS grew ${grew.toFixed(1)} MiB`);
    await waitFor('yes ended on the node', () => nodeProcesses('^yes$').length === 0, 10_000);
  });
});

describe('the CLI', () => {
  it('podploy exec runs a command without a terminal, stdout and stderr apart, with its exit code', async () => {
    const r = await x.hx.cli(['exec', APP, '--', 'sh', '-c', 'echo out-line; echo err-line >&2; exit 5']);
    expect(r.code).toBe(5);
    expect(r.stdout).toContain('out-line');
    expect(r.stdout).not.toContain('err-line');
    expect(r.stderr).toContain('err-line');
    expect(r.stderr).toMatch(/recorded as rec/i);
  });

  it('podploy exec -i feeds stdin; recordings list --json and export give the session back', async () => {
    const word = marker('piped');
    const r = await x.hx.cli(['exec', '-i', APP, '--', 'tr', 'a-z', 'A-Z'], { input: `${word}\n` });
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toContain(word.toUpperCase());
    const list = await x.hx.cli(['recordings', 'list', '--app', APP, '--json']);
    expect(list.code, list.stderr).toBe(0);
    const rows = JSON.parse(list.stdout) as RecordingSummary[];
    const latest = rows[0];
    expect(latest).toMatchObject({ app: APP, source: 'cli', command: ['tr', 'a-z', 'A-Z'], exitCode: 0 });
    const exported = await x.hx.cli(['recordings', 'export', latest.id]);
    expect(exported.code, exported.stderr).toBe(0);
    expect(exported.stdout.split('\n')[0]).toMatch(/"version":\s*2/);
    expect(exported.stdout).toContain(word.toUpperCase());
  });

  it('deleting a recording removes it and is audited', async () => {
    const rows = await x.hx.cp.router.invoke('recordings.list', { app: APP }, operator);
    const victim = rows[rows.length - 1];
    const r = await x.hx.cli(['recordings', 'delete', victim.id]);
    expect(r.code, r.stderr).toBe(0);
    const err = await x.hx.cp.router.invoke('recordings.get', { id: victim.id }, operator).catch((e: unknown) => e);
    expect((err as ApiError).code).toBe('not_found');
    const audit = await x.hx.cp.router.invoke('audit.list', { limit: 20 }, operator);
    expect(audit.find((a) => a.action === 'recording.delete' && (a.target.includes(victim.id) || a.detail.includes(victim.id)))).toBeTruthy();
  });
});
