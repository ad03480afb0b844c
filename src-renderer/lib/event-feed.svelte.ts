// One timeline's events: the newest page from events.list, then every matching event of the
// events.appended topic (in batches: a node catching up after a week sends thousands a second),
// and older pages on demand. A redelivered event changes nothing.
import type { ApiClient, NodeEventSummary } from '../../src-main/api/contract';
import { mergeEvents, queryMatches, TIMELINE_MAX, TIMELINE_PAGE, type EventsListInput } from './events';

export const FEED_FLUSH_MS = 150;

export type FeedQuery = Omit<Partial<EventsListInput>, 'limit' | 'before'>;

export class EventFeed {
  events = $state.raw<NodeEventSummary[]>([]);
  loaded = $state(false);
  loadingOlder = $state(false);
  // False once a page came back short: nothing older is stored.
  hasOlder = $state(false);
  error = $state<string | null>(null);
  private generation = 0;

  // Loads and follows `query`; returns the function that stops following.
  open(client: ApiClient, query: FeedQuery): () => void {
    const gen = ++this.generation;
    this.events = [];
    this.loaded = false;
    this.error = null;
    this.hasOlder = false;
    let pending: NodeEventSummary[] = [];
    let timer: ReturnType<typeof setTimeout> | null = null;
    const flush = () => {
      timer = null;
      if (gen !== this.generation) return;
      // Keeps as many as the operator paged in, dropping the oldest as new ones arrive.
      this.events = mergeEvents(this.events, pending, Math.max(TIMELINE_MAX, this.events.length));
      pending = [];
    };
    // Subscribed before the first page loads, so nothing falls between the two.
    const off = client.subscribe('events.appended', (e) => {
      if (!queryMatches(e, query)) return;
      pending.push(e);
      timer ??= setTimeout(flush, FEED_FLUSH_MS);
    });
    client.call('events.list', { ...query, limit: TIMELINE_PAGE }).then(
      (page) => {
        if (gen !== this.generation) return;
        this.events = mergeEvents(page, this.events);
        this.hasOlder = page.length === TIMELINE_PAGE;
        this.loaded = true;
      },
      (err: Error) => {
        if (gen !== this.generation) return;
        this.error = err.message;
        this.loaded = true;
      },
    );
    return () => {
      if (gen === this.generation) this.generation++;
      off();
      if (timer) clearTimeout(timer);
    };
  }

  async older(client: ApiClient, query: FeedQuery): Promise<void> {
    const oldest = this.events.at(-1);
    if (!oldest || this.loadingOlder) return;
    const gen = this.generation;
    this.loadingOlder = true;
    try {
      const page = await client.call('events.list', { ...query, limit: TIMELINE_PAGE, before: oldest.id });
      if (gen !== this.generation) return;
      // Older pages may grow the list past the live cap: the operator asked for them.
      this.events = mergeEvents(this.events, page, this.events.length + page.length);
      this.hasOlder = page.length === TIMELINE_PAGE;
    } catch (err) {
      if (gen === this.generation) this.error = (err as Error).message;
    } finally {
      this.loadingOlder = false;
    }
  }
}
