// Page object for the app log view (#/apps/NAME/logs).
import type { Locator, Page } from 'playwright-core';

export class LogsPage {
  constructor(readonly page: Page) {}
  async open(app: string): Promise<void> {
    await this.page.evaluate((hash) => (location.hash = hash), `#/apps/${encodeURIComponent(app)}/logs`);
    await this.heading(app).waitFor();
  }
  heading(app: string): Locator {
    return this.page.getByRole('heading', { name: `${app} logs`, level: 1 });
  }
  get filter(): Locator {
    return this.page.getByRole('searchbox', { name: 'Filter lines' });
  }
  get history(): Locator {
    return this.page.getByRole('combobox', { name: 'History' });
  }
  get viewport(): Locator {
    return this.page.getByRole('log', { name: 'Log lines' });
  }
  // The rows in the DOM (the virtualised window, not every line).
  get rows(): Locator {
    return this.viewport.locator('.log-row');
  }
  get dropped(): Locator {
    return this.page.getByTestId('log-dropped');
  }
  rowWithText(text: string): Locator {
    return this.rows.filter({ hasText: text });
  }
  async visibleTexts(): Promise<string[]> {
    return this.rows.locator('.text').allTextContents();
  }
  async received(): Promise<number> {
    return Number(await this.page.getByTestId('log-received').getAttribute('data-count'));
  }
  async following(): Promise<boolean> {
    return (await this.page.getByTestId('log-state').getAttribute('data-following')) === 'true';
  }
}
