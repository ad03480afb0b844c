import { z } from 'zod';
import {
  ApiError,
  procedures,
  topics,
  type InputOf,
  type OutputOf,
  type ProcedureName,
  type ProgressOf,
  type TopicName,
  type TopicPayload,
} from './contract';

export type CallSource = 'desktop' | 'browser' | 'cli' | 'system';
export interface CallContext {
  actor: string;
  source: CallSource;
  // Aborts when the caller cancels the call or its connection closes. Long handlers (a
  // following log) stop on it; short ones may ignore it.
  signal?: AbortSignal;
  // Bytes sent to the caller but not yet taken by its connection; a handler that streams a lot
  // of progress waits while it is high (absent: the transport cannot tell).
  backlog?: () => number;
}

export type Handler<P extends ProcedureName> = (
  input: z.output<(typeof procedures)[P]['input']>,
  ctx: CallContext,
  progress: (p: ProgressOf<P>) => void,
) => Promise<OutputOf<P>>;

export type Handlers = { [P in ProcedureName]: Handler<P> };

// Validates every input and output against the contract and fans topic events out to
// subscribers. Transports (WebSocket, IPC, tests) only ever talk to this.
export class Router {
  private subscribers = new Map<TopicName, Set<(payload: unknown) => void>>();

  constructor(private handlers: Handlers) {}

  async call(op: string, input: unknown, ctx: CallContext, onProgress?: (p: unknown) => void): Promise<unknown> {
    if (!Object.hasOwn(procedures, op)) throw new ApiError('invalid_input', `unknown operation '${op}'`);
    const name = op as ProcedureName;
    const spec = procedures[name];
    const parsed = spec.input.safeParse(input ?? {});
    if (!parsed.success) {
      throw new ApiError('invalid_input', `${op}: ${formatZodError(parsed.error)}`);
    }
    const handler = this.handlers[name] as unknown as (i: unknown, c: CallContext, p: (x: unknown) => void) => Promise<unknown>;
    const output = await handler(parsed.data, ctx, (p) => onProgress?.(p));
    return spec.output.parse(output);
  }

  // Typed convenience for in-process callers (tests, Electron main).
  invoke<P extends ProcedureName>(op: P, input: InputOf<P>, ctx: CallContext, onProgress?: (p: ProgressOf<P>) => void) {
    return this.call(op, input, ctx, onProgress as (p: unknown) => void) as Promise<OutputOf<P>>;
  }

  subscribe<T extends TopicName>(topic: T, handler: (payload: TopicPayload<T>) => void): () => void {
    let set = this.subscribers.get(topic);
    if (!set) this.subscribers.set(topic, (set = new Set()));
    const h = handler as (payload: unknown) => void;
    set.add(h);
    return () => set!.delete(h);
  }

  publish<T extends TopicName>(topic: T, payload: TopicPayload<T>): void {
    const value = topics[topic].parse(payload);
    for (const h of this.subscribers.get(topic) ?? []) {
      try {
        h(value);
      } catch {
        // A broken subscriber must not stop the others.
      }
    }
  }
}

export function formatZodError(error: z.ZodError): string {
  return error.issues
    .map((i) => (i.path.length ? `${i.path.join('.')}: ${i.message}` : i.message))
    .join('; ');
}

export function toApiError(err: unknown): ApiError {
  if (err instanceof ApiError) return err;
  if (err instanceof z.ZodError) return new ApiError('internal', `server produced invalid data: ${formatZodError(err)}`);
  const message = err instanceof Error ? err.message : String(err);
  return new ApiError('internal', message);
}
