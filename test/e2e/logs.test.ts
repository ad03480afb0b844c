// Logs and ps end to end on test host h5: the real CLI and control plane, the node's agent
// reading Podman's log API, the test app behind Caddy (it logs one line per request). Then the
// UI's log view in a real Chromium: live lines, filtering, and a few hundred thousand lines.
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ContainerSummary, LogLine } from '../../src-main/api/contract';
import { prepareAppHost, type AppHost } from '../support/app-host';
import { AGENT_DIR_OF, CLI, operator, ROOT, waitFor } from '../support/harness';
import { launchUi, LoginPage, screenshot, type UiBrowser } from '../support/ui-pages';
import { LogsPage } from '../support/log-page';

const APP = 'logs';
const DOMAIN = 'logs.test';
const FLOOD = 'flood';
const FLOOD_LINES = 300_000;

let ah: AppHost;

function agentLogEvents(event: string): Record<string, unknown>[] {
  const file = join(AGENT_DIR_OF(ah.user), 'log', 'agent.log');
  return readFileSync(file, 'utf8')
    .split('\n')
    .filter((l) => l.includes(`"event":"${event}"`))
    .map((l) => JSON.parse(l) as Record<string, unknown>);
}

// `podploy ARGS` as a child we can signal; its output accumulates.
function spawnCli(args: string[]): { child: ChildProcess; out: () => string; err: () => string; exit: Promise<number | null> } {
  const child = spawn(process.execPath, [CLI, ...args], { env: { ...process.env, PODPLOY_URL: ah.hx.url, PODPLOY_TOKEN: ah.hx.token }, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  child.stdout!.on('data', (d) => (out += d));
  child.stderr!.on('data', (d) => (err += d));
  const exit = new Promise<number | null>((r) => child.on('exit', (code) => r(code)));
  return { child, out: () => out, err: () => err, exit };
}

beforeAll(async () => {
  ah = await prepareAppHost('h5');
  for (const v of ['v1', 'v2']) ah.buildVersion(v);
  await ah.hx.cp.router.invoke('apps.create', { spec: { name: APP, node: 'h5', source: { kind: 'image', image: 'localhost/testapp:v1' }, domains: [DOMAIN] } }, operator);
  await ah.hx.cp.router.invoke('apps.deploy', { name: APP }, operator);
}, 300_000);

afterAll(async () => {
  await ah?.close();
});

describe('podploy logs and ps', () => {
  it('logs --tail N shows the requests the app logged; --json gives one object per line', async () => {
    for (let i = 1; i <= 5; i++) expect((await ah.get(DOMAIN, `/version?req=${i}`)).status).toBe(200);
    const all = await waitFor('the five requests in the log', async () => {
      const r = await ah.hx.cli(['logs', APP, '--tail', '500']);
      return r.code === 0 && /req=5/.test(r.stdout) ? r : undefined;
    });
    for (let i = 1; i <= 5; i++) expect(all.stdout).toMatch(new RegExp(`podploy-test-app: GET /version\\?req=${i} 200`));
    expect(all.stdout.trim().split('\n').length).toBeLessThanOrEqual(500);

    const two = await ah.hx.cli(['logs', APP, '--tail', '2']);
    expect(two.code, two.stderr).toBe(0);
    expect(two.stdout.trim().split('\n')).toHaveLength(2);

    const json = await ah.hx.cli(['logs', APP, '--tail', '500', '--json']);
    expect(json.code, json.stderr).toBe(0);
    const lines = json.stdout.trim().split('\n').map((l) => JSON.parse(l) as LogLine);
    const req3 = lines.find((l) => l.line.includes('req=3'))!;
    expect(req3).toMatchObject({ stream: 'stdout', release: 1 });
    expect(Math.abs(req3.at - Date.now())).toBeLessThan(120_000);
  });

  it('--since keeps only newer lines (a duration or an ISO time)', async () => {
    await ah.get(DOMAIN, '/version?mark=old');
    await new Promise((r) => setTimeout(r, 3_000));
    const cut = new Date(Date.now() - 1_000).toISOString();
    await ah.get(DOMAIN, '/version?mark=new');
    const dur = await waitFor('the new mark', async () => {
      const r = await ah.hx.cli(['logs', APP, '--since', '2s']);
      return r.code === 0 && r.stdout.includes('mark=new') ? r : undefined;
    });
    expect(dur.stdout).not.toContain('mark=old');
    const iso = await ah.hx.cli(['logs', APP, '--since', cut]);
    expect(iso.code, iso.stderr).toBe(0);
    expect(iso.stdout).toContain('mark=new');
    expect(iso.stdout).not.toContain('mark=old');
    const full = await ah.hx.cli(['logs', APP]);
    expect(full.stdout).toContain('mark=old');
  });

  it('ps shows the live container serving', async () => {
    const r = await ah.hx.cli(['ps', APP]);
    expect(r.code, r.stderr).toBe(0);
    const [head, row] = r.stdout.trim().split('\n');
    expect(head.split(/\s{2,}/)).toEqual(['APP', 'NODE', 'RELEASE', 'SLOT', 'CONTAINER', 'STATE', 'SERVING', 'STARTED', 'IMAGE DIGEST']);
    expect(row).toMatch(/^logs\s+h5\s+v1\s+a\s+podploy-logs-a-\S+\s+running\s+yes\s+\d+[smh] ago\s+sha256:/);
    const json = JSON.parse((await ah.hx.cli(['ps', APP, '--json'])).stdout) as ContainerSummary[];
    expect(json).toHaveLength(1);
    expect(json[0]).toMatchObject({ app: APP, node: 'h5', release: 1, slot: 'a', state: 'running', serving: true });
    expect(json[0].imageDigest).toMatch(/^sha256:[0-9a-f]{64}$/);
    const every = JSON.parse((await ah.hx.cli(['ps', '--json'])).stdout) as ContainerSummary[];
    expect(every.map((c) => c.app)).toContain(APP);
  });

  it('logs -f shows new lines live, goes on across a deploy, and ends on SIGINT with exit 0 and no stream left on the agent', async () => {
    const startedBefore = agentLogEvents('logs_started').length;
    const f = spawnCli(['logs', '-f', '--tail', '0', APP]);
    // The follow is live once a request made now shows up in its output.
    let n = 0;
    await waitFor('a live line', async () => {
      await ah.get(DOMAIN, `/version?live=${++n}`);
      return f.out().includes('live=');
    }, 20_000, 300);
    expect(f.out()).not.toContain('req=1'); // --tail 0: nothing from before
    const deployed = await ah.hx.cli(['deploy', APP, '--image', 'localhost/testapp:v2']);
    expect(deployed.code, deployed.stderr).toBe(0);
    await waitFor('the stream to switch to v2', () => /release \S+ is live now/.test(f.err()), 30_000);
    await waitFor('a line from v2', async () => {
      await ah.get(DOMAIN, '/version?after=deploy');
      return f.out().includes('after=deploy') && f.out().includes('podploy-test-app v2 listening');
    }, 20_000, 300);
    expect(f.child.exitCode).toBeNull();

    f.child.kill('SIGINT');
    expect(await f.exit).toBe(0);
    expect(f.err()).not.toMatch(/error:/);
    const follows = agentLogEvents('logs_started').slice(startedBefore).filter((e) => e.follow === true);
    expect(follows).toHaveLength(1);
    await waitFor('the agent to end the stream', () => agentLogEvents('logs_ended').some((e) => e.app === APP && e.cancelled === true), 10_000);
  });

  it('bad input is a clear error: unknown app, bad --since, bad --tail, unknown release', async () => {
    const unknown = await ah.hx.cli(['logs', 'nope']);
    expect(unknown.code).toBe(1);
    expect(unknown.stderr).toMatch(/^error: no app named 'nope'\nhint: /);
    const since = await ah.hx.cli(['logs', APP, '--since', 'yesterday']);
    expect(since.code).toBe(1);
    expect(since.stderr).toMatch(/^error: .*since 'yesterday' is neither a duration nor an ISO 8601 time\nhint: .*30s, 10m, 2h/);
    const tail = await ah.hx.cli(['logs', APP, '--tail', 'many']);
    expect(tail.code).toBe(1);
    expect(tail.stderr).toMatch(/^error: --tail 'many' is not a whole number\nhint: /);
    const rel = await ah.hx.cli(['logs', APP, '--release', '9']);
    expect(rel.code).toBe(1);
    expect(rel.stderr).toMatch(/^error: app 'logs' has no release v9\nhint: /);
    // v1's container went with the deploy to v2.
    const gone = await ah.hx.cli(['logs', APP, '--release', '1']);
    expect(gone.code).toBe(1);
    expect(gone.stderr).toMatch(/^error: .*no container for release/);
    const ps = await ah.hx.cli(['ps', 'nope']);
    expect(ps.code).toBe(1);
    expect(ps.stderr).toMatch(/^error: no app named 'nope'/);
  });
});

describe('the log view in Chromium', () => {
  let ui: UiBrowser;
  let page: Page;
  let logs: LogsPage;
  const pageErrors: string[] = [];

  beforeAll(async () => {
    if (!existsSync(join(ROOT, 'out', 'renderer', 'index.html'))) throw new Error('the renderer is not built: run `npm run build` first');
    ui = await launchUi();
    page = ui.page;
    page.setDefaultTimeout(20_000);
    page.on('pageerror', (err) => pageErrors.push(err.message));
    await page.goto(ah.hx.url);
    await new LoginPage(page).login(ah.hx.token);
    logs = new LogsPage(page);
  });

  afterAll(async () => {
    await ui?.close();
  });

  it('follows live lines and filters them', async () => {
    await logs.open(APP);
    await logs.heading(APP).waitFor();
    for (let i = 0; i < 3; i++) await ah.get(DOMAIN, `/version?ui=alpha${i}`);
    await ah.get(DOMAIN, '/version?ui=beta');
    await logs.rowWithText('ui=beta').waitFor();
    await logs.rowWithText('ui=alpha2').waitFor();
    expect(await logs.following()).toBe(true);

    await logs.filter.fill('ui=alpha');
    await waitFor('only alpha rows', async () => {
      const texts = await logs.visibleTexts();
      return texts.length === 3 && texts.every((t) => t.includes('ui=alpha'));
    }, 10_000);
    // A new matching line arrives while filtered.
    await ah.get(DOMAIN, '/version?ui=alpha9');
    await logs.rowWithText('ui=alpha9').waitFor();
    expect(await logs.rowWithText('ui=beta').count()).toBe(0);
    await screenshot(page, 'logs-filtered');

    // Keyboard: `/` focuses the filter, `f` toggles following.
    await logs.filter.fill('');
    await page.locator('main').click({ position: { x: 5, y: 5 } });
    await page.keyboard.press('f');
    expect(await logs.following()).toBe(false);
    await page.keyboard.press('f');
    expect(await logs.following()).toBe(true);
    await page.keyboard.press('/');
    expect(await logs.filter.evaluate((el) => el === document.activeElement)).toBe(true);
    expect(pageErrors).toEqual([]);
  });

  it(`stays responsive with ${FLOOD_LINES.toLocaleString('en')} lines: a window of rows in the DOM, a capped buffer`, async () => {
    await ah.hx.cp.router.invoke(
      'apps.create',
      {
        spec: {
          name: FLOOD,
          node: 'h5',
          source: { kind: 'image', image: 'localhost/testapp:v1' },
          domains: ['flood.test'],
          command: ['sh', '-c', `seq 1 ${FLOOD_LINES} | sed 's/^/flood line /'; exec /app/start`],
        },
      },
      operator,
    );
    await ah.hx.cp.router.invoke('apps.deploy', { name: FLOOD }, operator);
    await logs.open(FLOOD);
    await logs.history.selectOption('all');
    const t0 = Date.now();
    await waitFor('every flood line received', async () => (await logs.received()) >= FLOOD_LINES, 120_000, 250);
    const loadMs = Date.now() - t0;
    // The buffer keeps the newest lines and says so.
    await logs.dropped.waitFor();
    expect(await logs.dropped.innerText()).toMatch(/older lines were dropped/);
    const rows = await logs.rows.count();
    expect(rows).toBeGreaterThan(10);
    expect(rows).toBeLessThan(300);
    // Responsive: filtering 300k lines and scrolling answer quickly.
    const t1 = Date.now();
    await logs.filter.fill('flood line 29999');
    await waitFor('the filtered rows', async () => (await logs.visibleTexts()).includes('flood line 299995'), 5_000, 50);
    const filterMs = Date.now() - t1;
    expect(filterMs).toBeLessThan(3_000);
    const frame = await page.evaluate(() => new Promise<number>((r) => { const s = performance.now(); requestAnimationFrame(() => r(performance.now() - s)); }));
    expect(frame).toBeLessThan(500);
    await logs.filter.fill('');
    await screenshot(page, 'logs-flood');
    // Scrolling to the top pauses following; the rows stay a window.
    await logs.viewport.evaluate((el) => (el.scrollTop = 0));
    await waitFor('following paused', async () => !(await logs.following()), 5_000, 50);
    expect(await logs.rows.count()).toBeLessThan(300);
    console.log(`log view: ${FLOOD_LINES} lines in ${loadMs} ms, ${rows} rows in the DOM, filter in ${filterMs} ms`);
    expect(pageErrors).toEqual([]);
  });
});
