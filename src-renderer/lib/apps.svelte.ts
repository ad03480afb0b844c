// The apps as the UI sees them: loaded once per connection, then kept current by the live topics.
import type { ApiClient, AppSummary } from '../../src-main/api/contract';

class AppsStore {
  list = $state.raw<AppSummary[]>([]);
  loaded = $state(false);
  error = $state<string | null>(null);

  byName(name: string): AppSummary | undefined {
    return this.list.find((a) => a.name === name);
  }

  // Subscribes to the live topics; returns the function that stops them.
  bind(client: ApiClient): () => void {
    const offChanged = client.subscribe('apps.changed', (app) => this.upsert(app));
    const offDeleted = client.subscribe('apps.deleted', ({ name }) => {
      this.list = this.list.filter((a) => a.name !== name);
    });
    return () => {
      offChanged();
      offDeleted();
    };
  }

  async reload(client: ApiClient): Promise<void> {
    try {
      this.list = sortApps(await client.call('apps.list', {}));
      this.error = null;
    } catch (err) {
      this.error = (err as Error).message;
    } finally {
      this.loaded = true;
    }
  }

  upsert(app: AppSummary): void {
    this.list = sortApps([...this.list.filter((a) => a.id !== app.id), app]);
  }
}

export function sortApps(list: AppSummary[]): AppSummary[] {
  return [...list].sort((a, b) => a.name.localeCompare(b.name));
}

export const apps = new AppsStore();
