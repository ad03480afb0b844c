// What one probe found: a pass, or a failure with the reason an operator reads in the timeline.
export type ProbeResult = { ok: true; detail: string } | { ok: false; reason: string };
