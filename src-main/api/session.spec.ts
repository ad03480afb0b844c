// Cancellation through the API: ApiClient.stream() -> a 'cancel' message -> the ApiSession
// aborts the call's ctx.signal -> the handler ends and the call settles. Closing the session
// aborts every call in flight.
import { describe, expect, it } from 'vitest';
import { ApiClient, type ClientMessage, type LogChunk, type ServerMessage, type Transport } from './contract';
import { Router, type CallContext, type Handlers } from './router';
import { ApiSession } from './session';

// A handler that streams a chunk every few ms until its signal aborts, as a following log does.
function setup(opts: { backlog?: () => number } = {}) {
  const seen: { ctx?: CallContext; aborted: boolean; ended: boolean } = { aborted: false, ended: false };
  const handlers = {
    'apps.logs': async (_input: unknown, ctx: CallContext, progress: (p: LogChunk) => void) => {
      seen.ctx = ctx;
      let lines = 0;
      await new Promise<void>((resolve) => {
        const timer = setInterval(() => {
          lines++;
          progress({ lines: [{ at: 0, stream: 'stdout', line: `line ${lines}` }] });
        }, 2);
        ctx.signal?.addEventListener('abort', () => {
          seen.aborted = true;
          clearInterval(timer);
          resolve();
        });
      });
      seen.ended = true;
      return { lines };
    },
  } as unknown as Handlers;
  const router = new Router(handlers);
  const toClient: ((m: ServerMessage) => void)[] = [];
  const sentByClient: ClientMessage[] = [];
  const session = new ApiSession(router, { actor: 'tester', source: 'cli' }, (m) => toClient.forEach((h) => h(m)), { preAuthenticated: true, ...opts });
  const transport: Transport = {
    send: (m) => {
      sentByClient.push(m);
      queueMicrotask(() => session.handle(structuredClone(m)));
    },
    onMessage: (h) => toClient.push(h),
  };
  return { client: new ApiClient(transport), session, seen, sentByClient };
}

async function until(fn: () => boolean, ms = 2_000): Promise<void> {
  const end = Date.now() + ms;
  while (!fn()) {
    if (Date.now() > end) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 5));
  }
}

describe('call cancellation', () => {
  it('stream().cancel() aborts the handler, which ends the call with its result', async () => {
    const { client, seen, sentByClient } = setup();
    const chunks: LogChunk[] = [];
    const call = client.stream('apps.logs', { name: 'web', follow: true }, (c) => chunks.push(c));
    await until(() => chunks.length >= 3);
    expect(seen.aborted).toBe(false);
    call.cancel();
    const result = await call.result;
    expect(seen.aborted).toBe(true);
    expect(seen.ended).toBe(true);
    expect(result.lines).toBeGreaterThanOrEqual(3);
    expect(sentByClient).toContainEqual({ type: 'cancel', id: call.id });
    // Nothing arrives after the end, and a second cancel is not sent for a finished call.
    const after = chunks.length;
    await new Promise((r) => setTimeout(r, 20));
    expect(chunks.length).toBe(after);
    call.cancel();
    expect(sentByClient.filter((m) => m.type === 'cancel')).toHaveLength(1);
  });

  it('cancels only the call it names', async () => {
    const { client } = setup();
    const a = client.stream('apps.logs', { name: 'a', follow: true });
    const b = client.stream('apps.logs', { name: 'b', follow: true });
    let bDone = false;
    void b.result.then(() => (bDone = true));
    a.cancel();
    await a.result;
    await new Promise((r) => setTimeout(r, 20));
    expect(bDone).toBe(false);
    b.cancel();
    await b.result;
  });

  it('closing the session aborts every call in flight', async () => {
    const { client, session, seen } = setup();
    void client.call('apps.logs', { name: 'web', follow: true });
    await until(() => !!seen.ctx);
    session.close();
    await until(() => seen.ended);
    expect(seen.ctx?.signal?.aborted).toBe(true);
  });

  it('a cancel for an unknown call is ignored', async () => {
    const { session } = setup();
    expect(() => session.handle({ type: 'cancel', id: 999 })).not.toThrow();
  });

  it("hands the connection's backlog to handlers", async () => {
    const { client, seen } = setup({ backlog: () => 1234 });
    const call = client.stream('apps.logs', { name: 'web', follow: true });
    await until(() => !!seen.ctx);
    expect(seen.ctx?.backlog?.()).toBe(1234);
    call.cancel();
    await call.result;
  });
});
