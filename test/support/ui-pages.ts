// Page objects for the PodPloy UI in a real Chromium (playwright-core). Selectors prefer roles,
// labels and visible text; the few data-* attributes used are the ones the renderer sets on
// purpose for this (data-step/data-state on onboarding steps, data-node on node rows,
// data-testid on the fingerprint and the login error).
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium, type BrowserContext, type Locator, type Page } from 'playwright-core';
import { ROOT } from './harness';

export const CHROMIUM = process.env.PODPLOY_CHROMIUM ?? '/usr/bin/chromium';
export const SCREENSHOT_DIR = join(ROOT, 'test-results', 'ui');

export interface UiBrowser {
  context: BrowserContext;
  page: Page;
  close(): Promise<void>;
}

// A fresh headless Chromium with its own throw-away profile.
export async function launchUi(): Promise<UiBrowser> {
  const profile = mkdtempSync(join(tmpdir(), 'pp-chromium-'));
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM,
    headless: true,
    viewport: { width: 1280, height: 800 },
    args: [
      '--headless',
      '--no-sandbox',
      '--disable-gpu',
      '--disable-quic',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
    ],
  });
  const page = context.pages()[0] ?? (await context.newPage());
  return {
    context,
    page,
    async close() {
      await context.close().catch(() => undefined);
      rmSync(profile, { recursive: true, force: true });
    },
  };
}

export async function screenshot(page: Page, name: string): Promise<string> {
  mkdirSync(SCREENSHOT_DIR, { recursive: true });
  const path = join(SCREENSHOT_DIR, `${name}.png`);
  await page.screenshot({ path });
  return path;
}

export class LoginPage {
  constructor(readonly page: Page) {}
  get heading(): Locator {
    return this.page.getByRole('heading', { name: 'Sign in to this control plane' });
  }
  get token(): Locator {
    return this.page.getByLabel('Admin token');
  }
  get signIn(): Locator {
    return this.page.getByRole('button', { name: /Sign in|Connecting/ });
  }
  get error(): Locator {
    return this.page.getByRole('alert');
  }
  async login(token: string): Promise<void> {
    await this.token.fill(token);
    await this.signIn.click();
  }
}

export class Shell {
  constructor(readonly page: Page) {}
  get nav(): Locator {
    return this.page.getByRole('navigation', { name: 'Main' });
  }
  get nodesLink(): Locator {
    return this.nav.getByRole('link', { name: /Nodes/ });
  }
  get auditLink(): Locator {
    return this.nav.getByRole('link', { name: /Audit log/ });
  }
  get signOut(): Locator {
    return this.nav.getByRole('button', { name: 'Sign out' });
  }
}

export class NodesPage {
  constructor(readonly page: Page) {}
  get heading(): Locator {
    return this.page.getByRole('heading', { name: 'Nodes', level: 1 });
  }
  get empty(): Locator {
    return this.page.getByText('No nodes yet');
  }
  get summary(): Locator {
    return this.heading.locator('xpath=following-sibling::div[1]');
  }
  get rows(): Locator {
    return this.page.getByRole('table').locator('tbody').getByRole('row');
  }
  row(name: string): Locator {
    return this.page.locator(`tr[data-node="${name}"]`);
  }
  // The text of a cell of a node's row, by its column header.
  async cell(name: string, column: string): Promise<string> {
    // textContent: the headers are upper-cased by CSS, which innerText would reflect.
    const headers = await this.page.getByRole('table').getByRole('columnheader').allTextContents();
    const i = headers.findIndex((h) => h.trim() === column);
    if (i < 0) throw new Error(`no column ${column} in ${headers.join(', ')}`);
    return (await this.row(name).getByRole('cell').nth(i).innerText()).trim();
  }
}

export class AddNodeDialog {
  constructor(readonly page: Page) {}
  // The one open modal (its title changes with the phase).
  get dialog(): Locator {
    return this.page.locator('dialog[open]');
  }
  get title(): Locator {
    return this.dialog.getByRole('heading', { level: 2 });
  }
  get address(): Locator {
    return this.dialog.getByRole('textbox', { name: /^Address/ });
  }
  get name(): Locator {
    return this.dialog.getByRole('textbox', { name: /^Name/ });
  }
  get privateKeyTab(): Locator {
    return this.dialog.getByRole('radio', { name: 'Private key' });
  }
  get privateKey(): Locator {
    return this.dialog.getByRole('textbox', { name: 'Private key' });
  }
  get continue(): Locator {
    return this.dialog.getByRole('button', { name: /Continue|Connecting/ });
  }
  get error(): Locator {
    return this.dialog.getByRole('alert');
  }
  get fingerprint(): Locator {
    return this.dialog.getByTestId('fingerprint');
  }
  get consent(): Locator {
    return this.dialog.getByRole('checkbox', { name: /Install missing packages/ });
  }
  get trust(): Locator {
    return this.dialog.getByRole('button', { name: /Trust this key and add the node/ });
  }
  get steps(): Locator {
    return this.dialog.locator('li[data-step]');
  }
  step(id: string): Locator {
    return this.dialog.locator(`li[data-step="${id}"]`);
  }
  // The end of a successful onboarding: the button that opens the new node.
  get success(): Locator {
    return this.dialog.getByRole('button', { name: /^Open / });
  }
  // "NAME is online." (or offline) under the steps once done.
  result(name: string): Locator {
    return this.dialog.getByText(new RegExp(`^${name} is `));
  }
  get closeButton(): Locator {
    return this.dialog.getByRole('button', { name: 'Close', exact: true });
  }
  get cancel(): Locator {
    return this.dialog.getByRole('button', { name: 'Cancel' });
  }
  async stepStates(): Promise<Record<string, string>> {
    return this.steps.evaluateAll((lis) => Object.fromEntries(lis.map((li) => [li.getAttribute('data-step'), li.getAttribute('data-state')])));
  }
  async fillForm(o: { address: string; name?: string; privateKey: string }): Promise<void> {
    await this.address.fill(o.address);
    if (o.name !== undefined) await this.name.fill(o.name);
    await this.privateKeyTab.check();
    await this.privateKey.fill(o.privateKey);
  }
}

// Records every state each onboarding step goes through, from inside the page (a
// MutationObserver on data-state), so that quick transitions are not missed by polling.
export async function recordStepStates(page: Page): Promise<void> {
  await page.evaluate(() => {
    const w = window as unknown as { __stepLog: { step: string; state: string; at: number }[] };
    w.__stepLog = [];
    const log = (el: Element) => {
      const step = el.getAttribute('data-step');
      const state = el.getAttribute('data-state');
      if (step && state) w.__stepLog.push({ step, state, at: performance.now() });
    };
    new MutationObserver((muts) => {
      for (const m of muts) {
        if (m.type === 'attributes' && m.target instanceof Element) log(m.target);
        for (const n of m.addedNodes) {
          if (n instanceof Element) {
            if (n.matches('li[data-step]')) log(n);
            n.querySelectorAll('li[data-step]').forEach(log);
          }
        }
      }
    }).observe(document.body, { subtree: true, childList: true, attributes: true, attributeFilter: ['data-state'] });
  });
}

export async function stepLog(page: Page): Promise<{ step: string; state: string; at: number }[]> {
  return page.evaluate(() => (window as unknown as { __stepLog: { step: string; state: string; at: number }[] }).__stepLog ?? []);
}

export class NodeDetailPage {
  constructor(readonly page: Page) {}
  heading(name: string): Locator {
    return this.page.getByRole('heading', { name, level: 1 });
  }
  get status(): Locator {
    return this.page.locator('.page-head').getByTitle(/^(online|offline)$/);
  }
  card(title: string): Locator {
    return this.page.locator('section').filter({ has: this.page.getByRole('heading', { name: title, level: 3 }) });
  }
  // The value next to a label in a card's definition list.
  fact(card: string, label: string): Locator {
    return this.card(card).locator(`dt:text-is("${label}") + dd`);
  }
  get remove(): Locator {
    return this.page.getByRole('button', { name: 'Remove node…' });
  }
  removeDialog(name: string): Locator {
    return this.page.getByRole('dialog', { name: `Remove ${name}?` });
  }
  confirmRemove(name: string): Locator {
    return this.removeDialog(name).getByRole('button', { name: `Remove ${name}`, exact: true });
  }
  removed(name: string): Locator {
    return this.page.getByText(`${name} was removed`);
  }
}

export class AuditPage {
  constructor(readonly page: Page) {}
  get heading(): Locator {
    return this.page.getByRole('heading', { name: 'Audit log', level: 1 });
  }
  rows(action: string, target?: string): Locator {
    let rows = this.page.getByRole('row').filter({ has: this.page.getByRole('cell', { name: action, exact: true }) });
    if (target) rows = rows.filter({ has: this.page.getByRole('cell', { name: target, exact: true }) });
    return rows;
  }
}

// An app's page (#/apps/NAME): the release timeline, deploy and rollback with their live steps,
// the configuration editor and the write-only secrets editor.
export class AppPage {
  constructor(readonly page: Page) {}
  heading(name: string): Locator {
    return this.page.getByRole('heading', { name, level: 1 });
  }
  get dialog(): Locator {
    return this.page.locator('dialog[open]');
  }
  get deployButton(): Locator {
    return this.page.locator('.page-head').getByRole('button', { name: /^Deploy/ });
  }
  get deployImage(): Locator {
    return this.dialog.getByRole('textbox', { name: /^Image/ });
  }
  get run(): Locator {
    return this.page.getByTestId('deploy-run');
  }
  // Waits until the run shown ends, and returns how it ended ('live' or 'failed').
  async runEnded(timeout = 120_000): Promise<string> {
    await this.page.locator('[data-testid="deploy-run"]:not([data-state="running"])').waitFor({ timeout });
    return (await this.run.getAttribute('data-state')) ?? '';
  }
  get timeline(): Locator {
    return this.page.getByRole('table', { name: 'Releases' });
  }
  release(n: number): Locator {
    return this.timeline.locator(`tr[data-release="${n}"]`);
  }
  // "v3 live", "v2 superseded"... newest first, as the timeline shows them.
  async releaseStates(): Promise<string[]> {
    return this.timeline.locator('tbody tr').evaluateAll((rows) => rows.map((r) => `v${r.getAttribute('data-release')} ${r.getAttribute('data-status')}`));
  }
  rollbackTo(n: number): Locator {
    return this.release(n).getByRole('button', { name: `Roll back to v${n}` });
  }
  get editor(): Locator {
    return this.page.getByRole('form', { name: 'Configuration editor' });
  }
  editorField(name: string): Locator {
    return this.editor.locator(`[name="${name}"]`);
  }
  get saveConfig(): Locator {
    return this.editor.getByRole('button', { name: /Save configuration|Saving/ });
  }
  // The value next to a label in one of the read-only configuration cards.
  fact(card: string, label: string): Locator {
    return this.page.locator('section.card').filter({ has: this.page.getByRole('heading', { name: card, level: 3 }) }).locator(`dt:text-is("${label}") + dd`);
  }
  get secrets(): Locator {
    return this.page.getByRole('region', { name: /^Secrets/ });
  }
  secret(name: string): Locator {
    return this.secrets.locator(`li[data-secret="${name}"]`);
  }
  get secretName(): Locator {
    return this.secrets.getByRole('textbox', { name: 'Secret name' });
  }
  get secretValue(): Locator {
    return this.secrets.getByLabel('Secret value');
  }
  get setSecret(): Locator {
    return this.secrets.getByRole('button', { name: /Set secret|Saving/ });
  }
}

// A terminal page (#/terminal/app/NAME or #/terminal/node/NAME): the xterm screen, the banner
// that says the session is recorded, and its state (connecting, live, ended, failed).
export class TerminalPage {
  constructor(readonly page: Page) {}
  get screen(): Locator {
    return this.page.getByTestId('terminal');
  }
  get banner(): Locator {
    return this.page.getByTestId('terminal-banner');
  }
  get recordingId(): Locator {
    return this.page.getByTestId('terminal-recording-id');
  }
  get close(): Locator {
    return this.page.getByTestId('terminal-close');
  }
  get replay(): Locator {
    return this.page.getByTestId('terminal-replay');
  }
  get error(): Locator {
    return this.page.getByTestId('terminal-error');
  }
  async state(): Promise<string> {
    return (await this.banner.getAttribute('data-state')) ?? '';
  }
  async waitState(state: string, timeout = 30_000): Promise<void> {
    await this.page.locator(`[data-testid="terminal-banner"][data-state="${state}"]`).waitFor({ timeout });
  }
  // What the screen shows now, row by row.
  text(): Promise<string> {
    return this.screen.locator('.xterm-rows').innerText();
  }
  async typeLine(line: string): Promise<void> {
    await this.screen.click();
    await this.page.keyboard.type(line);
    await this.page.keyboard.press('Enter');
  }
}

// A recording's player (#/recordings/ID).
export class RecordingPlayer {
  constructor(readonly page: Page) {}
  get player(): Locator {
    return this.page.getByTestId('cast-player');
  }
  get toggle(): Locator {
    return this.page.getByTestId('player-toggle');
  }
  get seek(): Locator {
    return this.page.getByTestId('player-seek');
  }
  get error(): Locator {
    return this.page.getByTestId('recording-error');
  }
  speed(x: number): Locator {
    return this.page.locator(`[data-testid="player-speed"] [data-speed="${x}"]`);
  }
  text(): Promise<string> {
    return this.player.locator('.xterm-rows').innerText();
  }
}
