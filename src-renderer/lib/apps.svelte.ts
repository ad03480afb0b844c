// The apps as the UI sees them: loaded once per connection, then kept current by 'apps.changed'.
import type { ApiClient, AppSummary } from '../../src-main/api/contract';

class AppsStore {
  list = $state.raw<AppSummary[]>([]);
  loaded = $state(false);
  error = $state<string | null>(null);

  byName(name: string): AppSummary | undefined {
    return this.list.find((a) => a.name === name);
  }

  // Subscribes to the live topic; returns the function that stops it.
  bind(client: ApiClient): () => void {
    return client.subscribe('apps.changed', (app) => this.upsert(app));
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
