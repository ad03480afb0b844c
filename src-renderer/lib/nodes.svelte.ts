// The fleet as the UI sees it: loaded once per connection, then kept current by events.
import type { ApiClient, NodeSummary } from '../../src-main/api/contract';

class NodesStore {
  list = $state.raw<NodeSummary[]>([]);
  loaded = $state(false);
  error = $state<string | null>(null);

  byName(name: string): NodeSummary | undefined {
    return this.list.find((n) => n.name === name);
  }

  // Subscribes to the live topics; returns the function that stops it.
  bind(client: ApiClient): () => void {
    const offChanged = client.subscribe('nodes.changed', (node) => this.upsert(node));
    const offRemoved = client.subscribe('nodes.removed', ({ name }) => {
      this.list = this.list.filter((n) => n.name !== name);
    });
    return () => {
      offChanged();
      offRemoved();
    };
  }

  async reload(client: ApiClient): Promise<void> {
    try {
      const nodes = await client.call('nodes.list', {});
      this.list = sortNodes(nodes);
      this.error = null;
    } catch (err) {
      this.error = (err as Error).message;
    } finally {
      this.loaded = true;
    }
  }

  upsert(node: NodeSummary): void {
    const rest = this.list.filter((n) => n.id !== node.id);
    this.list = sortNodes([...rest, node]);
  }
}

export function sortNodes(nodes: NodeSummary[]): NodeSummary[] {
  return [...nodes].sort((a, b) => a.name.localeCompare(b.name));
}

export const nodes = new NodesStore();
