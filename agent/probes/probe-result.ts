// What one probe found: a pass, or a failure with the reason an operator reads in the timeline.
export type ProbeResult = { ok: true; detail: string } | { ok: false; reason: string };

// One probe attempt settled exactly once: by what `start` reports, by its deadline, or by the
// caller's abort. `start` opens what it needs and returns how to release it.
export function settleProbe(
  opts: { timeoutMs: number; signal?: AbortSignal; timeoutReason: string; cancelReason: string },
  start: (finish: (result: ProbeResult) => void) => () => void,
): Promise<ProbeResult> {
  return new Promise((resolve) => {
    let done = false;
    let release: (() => void) | undefined;
    const finish = (result: ProbeResult) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      opts.signal?.removeEventListener('abort', onAbort);
      release?.();
      resolve(result);
    };
    const timer = setTimeout(() => finish({ ok: false, reason: opts.timeoutReason }), opts.timeoutMs);
    const onAbort = () => finish({ ok: false, reason: opts.cancelReason });
    if (opts.signal?.aborted) return onAbort();
    opts.signal?.addEventListener('abort', onAbort, { once: true });
    release = start(finish);
    if (done) release();
  });
}
