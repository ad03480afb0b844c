// The web UI end to end, in a real headless Chromium: `podploy serve`'s HTTP/WebSocket server
// on a real control plane, serving the built renderer (out/renderer: `npm run build` first),
// onboarding a real test host over SSH through the Add Node dialog, then removing it.
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Page } from 'playwright-core';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import type { NodeSummary } from '../../src-main/api/contract';
import { loadTestHosts } from '../hosts/hosts';
import { agentProcesses, operator, ROOT, sh, startHarness, waitFor, type Harness } from '../support/harness';
import {
  AddNodeDialog,
  AuditPage,
  launchUi,
  LoginPage,
  NodeDetailPage,
  NodesPage,
  recordStepStates,
  screenshot,
  Shell,
  stepLog,
  type UiBrowser,
} from '../support/ui-pages';

const hosts = loadTestHosts();
const h3 = hosts.hosts.find((h) => h.name === 'h3')!;
const user = h3.users.deploy;
const NAME = 'ui-h3';
const ADDRESS = `ssh://${user}@${h3.address}:${h3.port}`;
const WRONG_ADDRESS = `ssh://${user}@${h3.address}:2222`;
const STEPS = ['connect', 'detect', 'install', 'podman-socket', 'upload', 'service', 'handshake'];
const PODPLOY_DIR = `/home/${user}/.local/share/podploy`;

let hx: Harness;
let ui: UiBrowser;
let page: Page;
let login: LoginPage;
let shell: Shell;
let nodesPage: NodesPage;
let add: AddNodeDialog;
let detail: NodeDetailPage;
let audit: AuditPage;
const pageErrors: string[] = [];

function resetUser() {
  sh(`${join(ROOT, 'test', 'hosts', 'reset-user.sh')} ${user}`);
}

async function nodeList(): Promise<NodeSummary[]> {
  return hx.cp.router.invoke('nodes.list', {}, operator);
}

beforeAll(async () => {
  if (!existsSync(join(ROOT, 'out', 'renderer', 'index.html'))) {
    throw new Error('the renderer is not built (out/renderer/index.html is missing): run `npm run build` first');
  }
  resetUser();
  hx = await startHarness();
  ui = await launchUi();
  page = ui.page;
  page.setDefaultTimeout(15_000);
  page.on('pageerror', (err) => pageErrors.push(err.message));
  page.on('console', (msg) => {
    if (msg.type() === 'error') pageErrors.push(`console: ${msg.text()}`);
  });
  login = new LoginPage(page);
  shell = new Shell(page);
  nodesPage = new NodesPage(page);
  add = new AddNodeDialog(page);
  detail = new NodeDetailPage(page);
  audit = new AuditPage(page);
});

afterAll(async () => {
  await ui?.close();
  await hx?.close();
  resetUser();
});

// The tests are one story, each step building on the one before: after a failure the rest is
// skipped (rather than timing out one after the other), with a screenshot of the failure.
let failed = false;
beforeEach(({ task, skip, onTestFailed }) => {
  if (failed) skip();
  onTestFailed(async () => {
    failed = true;
    if (page) await screenshot(page, `FAILED-${task.name.replace(/[^a-z0-9]+/gi, '-')}`).catch(() => undefined);
  });
});

describe('the web UI, in Chromium, against a real control plane and a real host', () => {
  it('asks for the token, rejects a wrong one clearly, and signs in with the right one', async () => {
    await page.goto(hx.url);
    await login.heading.waitFor();
    await screenshot(page, '01-login');

    await login.login('pp_not-the-right-token');
    await login.error.waitFor();
    expect(await login.error.innerText()).toMatch(/did not accept this token/);
    await expect.poll(() => page.evaluate(() => localStorage.getItem('podploy.adminToken'))).toBeNull();
    await screenshot(page, '02-login-wrong-token');

    await login.login(hx.token);
    await nodesPage.heading.waitFor();
    await nodesPage.empty.waitFor();
    expect(await login.error.count()).toBe(0);
    expect(await shell.nav.innerText()).toContain('admin');
    await screenshot(page, '03-nodes-empty');
  });

  it('adds a node through the dialog (keyboard n), confirming the real host key and showing live progress', async () => {
    const realFingerprint = sh(`ssh-keyscan -t ed25519 ${h3.address} 2>/dev/null | ssh-keygen -lf -`).trim().split(/\s+/)[1];
    expect(realFingerprint).toMatch(/^SHA256:/);

    await page.keyboard.press('n');
    await add.dialog.waitFor();
    expect(await add.title.innerText()).toBe('Add a node');
    await add.fillForm({ address: ADDRESS, name: NAME, privateKey: readFileSync(hosts.clientKey, 'utf8') });
    await screenshot(page, '04-add-form');
    await add.continue.click();

    await add.fingerprint.waitFor({ timeout: 20_000 });
    expect(await add.title.innerText()).toBe('Confirm the host key');
    expect((await add.fingerprint.innerText()).trim()).toBe(realFingerprint);
    expect(await add.dialog.innerText()).toContain(`${user}@${h3.address}:${h3.port}`);
    await screenshot(page, '05-confirm-host-key');

    await add.consent.check();
    await recordStepStates(page);
    await add.trust.click();
    await add.steps.first().waitFor();
    await screenshot(page, '06-onboarding-running');

    // Success, or the dialog's error (failing right away with what it says).
    await add.success.or(add.error).waitFor({ timeout: 60_000 });
    if (await add.error.isVisible()) throw new Error(`onboarding failed in the UI: ${await add.error.innerText()} | steps: ${JSON.stringify(await add.stepStates())}`);
    await screenshot(page, '07-onboarding-done');
    const states = await add.stepStates();
    expect(Object.keys(states)).toEqual(STEPS);
    for (const step of STEPS) expect(['done', 'unchanged'], `${step} ended ${states[step]}`).toContain(states[step]);
    expect(await add.result(NAME).innerText()).toBe(`${NAME} is online.`);

    // Progress was live: steps were seen running one by one, not only their final states.
    const log = await stepLog(page);
    const running = log.filter((e) => e.state === 'running').map((e) => e.step);
    expect(running.length, JSON.stringify(log)).toBeGreaterThan(0);
    const firstRunning = log.findIndex((e) => e.state === 'running');
    const lastFinal = log.findLastIndex((e) => e.state === 'done' || e.state === 'unchanged');
    expect(firstRunning).toBeLessThan(lastFinal);

    await add.closeButton.click();
    await add.dialog.waitFor({ state: 'detached' });
  });

  it('lists the node online with its OS and Podman version, and its detail shows the facts', async () => {
    const row = nodesPage.row(NAME);
    await row.waitFor();
    await expect.poll(() => row.getByTitle('online').count()).toBeGreaterThan(0);
    const osRelease = Object.fromEntries(
      sh('. /etc/os-release; printf "%s\\n%s\\n" "$ID" "$VERSION_ID"').trim().split('\n').map((v, i) => [i ? 'version' : 'id', v]),
    );
    const podman = sh("podman --version | awk '{print $NF}'").trim();
    expect(await nodesPage.cell(NAME, 'OS')).toBe(`${osRelease.id} ${osRelease.version}`.trim());
    expect(await nodesPage.cell(NAME, 'Podman')).toBe(podman);
    // The stored address leaves out the default port.
    expect(await nodesPage.cell(NAME, 'Address')).toMatch(new RegExp(`^${user}@${h3.address.replace(/\./g, '\\.')}(:22)?$`));
    expect(await nodesPage.cell(NAME, 'Arch')).toBe(sh('uname -m').trim());
    expect(await nodesPage.summary.innerText()).toBe('1 server, 1 online');
    // Usage arrives from the agent's reports.
    await expect.poll(() => nodesPage.cell(NAME, 'Containers'), { timeout: 15_000 }).toMatch(/^\d+ \/ \d+$/);
    await screenshot(page, '08-nodes-online');

    await row.click();
    await detail.heading(NAME).waitFor();
    await expect.poll(() => detail.page.locator('.page-head').innerText()).toContain('online');
    expect(await detail.fact('System', 'Kernel').innerText()).toBe(sh('uname -r').trim());
    expect(await detail.fact('System', 'Architecture').innerText()).toBe(sh('uname -m').trim());
    expect(await detail.fact('System', 'Podman').innerText()).toContain(podman);
    expect(await detail.fact('System', 'Podman').innerText()).toContain('rootless ready');
    expect(await detail.fact('System', 'SSH user').innerText()).toBe(user);
    expect(await detail.fact('System', 'Node.js').innerText()).toBe(process.version);
    expect(await detail.fact('Agent', 'Service mode').innerText()).toContain('supervisor');
    const node = (await nodeList()).find((n) => n.name === NAME)!;
    expect(await detail.fact('Agent', 'Node ID').innerText()).toBe(node.id);
    expect(await detail.fact('Agent', 'Host key').innerText()).toBe(node.hostKeyFingerprint);
    await expect.poll(() => detail.card('Usage').innerText(), { timeout: 15_000 }).toMatch(/running of/);
    await screenshot(page, '09-node-detail');
  });

  it('records node.add in the audit log', async () => {
    await shell.auditLink.click();
    await audit.heading.waitFor();
    const rows = audit.rows('node.add', NAME);
    await rows.first().waitFor();
    expect(await rows.count()).toBe(1);
    expect(await rows.first().getByRole('cell', { name: 'ok', exact: true }).count()).toBe(1);
    await screenshot(page, '10-audit');
  });

  it('shows a clear error in the dialog for an address nobody answers on, and adds nothing', async () => {
    await shell.nodesLink.click();
    await nodesPage.heading.waitFor();
    await page.locator('main').focus();
    await page.keyboard.press('n');
    await add.dialog.waitFor();
    await add.fillForm({ address: WRONG_ADDRESS, name: 'ui-h3-wrong', privateKey: readFileSync(hosts.clientKey, 'utf8') });
    await add.continue.click();
    await add.error.waitFor({ timeout: 30_000 });
    const message = await add.error.innerText();
    expect(message).toContain(`${h3.address}:2222`);
    expect(message).toMatch(/refused|unreachable|not reach|could not connect|cannot connect/i);
    // Still the form, with what was typed, ready to fix.
    expect(await add.title.innerText()).toBe('Add a node');
    expect(await add.address.inputValue()).toBe(WRONG_ADDRESS);
    await screenshot(page, '11-add-wrong-port');

    await add.cancel.click();
    await add.dialog.waitFor({ state: 'detached' });
    expect((await nodeList()).map((n) => n.name)).toEqual([NAME]);
    expect(await nodesPage.rows.count()).toBe(1);
  });

  it('creates an app on the node through the dialog (g p, c), refusing bad input inline, with every default shown', async () => {
    await page.keyboard.press('Escape');
    await page.keyboard.press('g');
    await page.keyboard.press('p');
    await page.getByRole('heading', { name: 'Apps', exact: true }).waitFor();
    await page.getByText('No apps yet').waitFor();
    await page.keyboard.press('c');
    const dialog = page.locator('dialog[open]');
    await dialog.getByLabel('Name').fill('Bad_Name');
    await dialog.getByLabel('Image reference').fill('localhost/podploy-test-app:latest');
    await dialog.getByRole('button', { name: /Create app/ }).click();
    await dialog.getByText('an app name is 1-40 lowercase letters').waitFor();
    expect(await hx.cp.router.invoke('apps.list', {}, operator)).toEqual([]);
    await dialog.getByLabel('Name').fill('web');
    await dialog.getByLabel(/Environment/).fill('GREETING=hello');
    await screenshot(page, '12a-create-app');
    await dialog.getByRole('button', { name: /Create app/ }).click();
    await page.getByRole('heading', { name: 'web', exact: true }).waitFor();
    await page.getByText('No releases yet').waitFor();
    const body = await page.locator('main').innerText();
    expect(body).toContain('every 1 s');
    expect(body).toContain('GREETING');
    expect(body).not.toContain('hello');
    await screenshot(page, '12b-app-detail');
    const created = await hx.cp.router.invoke('apps.get', { name: 'web' }, operator);
    expect(created).toMatchObject({ node: NAME, spec: { env: { GREETING: 'hello' }, health: { intervalMs: 1000 } } });
    // A node that runs apps cannot be removed; the app goes first.
    await hx.cp.router.invoke('apps.delete', { name: 'web' }, operator);
    await page.keyboard.press('g');
    await page.keyboard.press('p');
    await page.getByText('No apps yet').waitFor();
    await shell.nodesLink.click();
  });

  it('removes the node from its detail page, and the server is cleaned up', async () => {
    await nodesPage.row(NAME).click();
    await detail.heading(NAME).waitFor();
    await detail.remove.click();
    await detail.removeDialog(NAME).waitFor();
    await screenshot(page, '12-remove-confirm');
    await detail.confirmRemove(NAME).click();
    await detail.removed(NAME).waitFor({ timeout: 60_000 });
    await screenshot(page, '13-removed');

    expect(await nodeList()).toEqual([]);
    expect(existsSync(PODPLOY_DIR)).toBe(false);
    await waitFor('the agent to stop', () => agentProcesses(user).length === 0, 10_000);

    await shell.nodesLink.click();
    await nodesPage.empty.waitFor();
    expect(await nodesPage.rows.count()).toBe(0);

    await shell.auditLink.click();
    await audit.rows('node.remove', NAME).first().waitFor();
    expect(await audit.rows('node.remove', NAME).first().getByRole('cell', { name: 'ok', exact: true }).count()).toBe(1);
    await screenshot(page, '14-audit-after-remove');
  });

  it('had no script errors in the page', () => {
    // The wrong-token attempt may log a failed WebSocket handshake; nothing else should.
    expect(pageErrors.filter((e) => !/WebSocket/i.test(e))).toEqual([]);
  });
});
