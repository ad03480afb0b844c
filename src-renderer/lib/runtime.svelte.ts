// What Lazarus last reported about each app (running, restarting, crash-looping, stopped, and
// its restart count): loaded once per connection, then kept current by the apps.runtime topic.
import type { ApiClient, AppRuntime } from '../../src-main/api/contract';

class RuntimeStore {
  byApp = $state.raw<Record<string, AppRuntime>>({});
  loaded = $state(false);
  error = $state<string | null>(null);

  of(app: string): AppRuntime | undefined {
    return this.byApp[app];
  }

  // Subscribes to the live topic; returns the function that stops it.
  bind(client: ApiClient): () => void {
    const offRuntime = client.subscribe('apps.runtime', (r) => this.upsert(r));
    const offDeleted = client.subscribe('apps.deleted', ({ name }) => {
      const { [name]: _, ...rest } = this.byApp;
      this.byApp = rest;
    });
    return () => {
      offRuntime();
      offDeleted();
    };
  }

  async reload(client: ApiClient): Promise<void> {
    try {
      const list = await client.call('apps.runtime', {});
      this.byApp = Object.fromEntries(list.map((r) => [r.app, r]));
      this.error = null;
    } catch (err) {
      this.error = (err as Error).message;
    } finally {
      this.loaded = true;
    }
  }

  upsert(r: AppRuntime): void {
    this.byApp = { ...this.byApp, [r.app]: r };
  }
}

export const runtime = new RuntimeStore();
