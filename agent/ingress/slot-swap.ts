// Moving an app's traffic from one slot to the other without changing Caddy's configuration:
// open the new slot's gate, wait until Caddy has seen it healthy, close the old slot's gate,
// wait until Caddy has seen it unhealthy, then wait until Caddy has no request in flight to
// the old slot (drain). The caller stops the old container afterwards.
import type { Logger } from '../logger';
import type { CaddyAdmin } from './caddy-admin';
import { GATE_CONFIRM_DEADLINE_MS, type SlotGate } from './slot-gate';

// In-flight requests to the old slot get this long to finish (the default).
export const DRAIN_DEADLINE_MS = 30_000;
export const DRAIN_POLL_MS = 50;

export interface MoveTrafficOptions {
  admin: CaddyAdmin;
  from: { gate: SlotGate; dial: string };
  to: { gate: SlotGate; dial: string };
  confirmDeadlineMs?: number;
  drainDeadlineMs?: number;
  log?: Logger;
}

export interface MoveTrafficResult {
  // Milliseconds for each phase.
  openMs: number;
  closeMs: number;
  drainMs: number;
  // False when the drain deadline passed with requests still in flight to the old slot.
  drained: boolean;
  inFlightLeft: number;
}

export async function moveTraffic(opts: MoveTrafficOptions): Promise<MoveTrafficResult> {
  const { admin, from, to, log } = opts;
  const confirmDeadlineMs = opts.confirmDeadlineMs ?? GATE_CONFIRM_DEADLINE_MS;
  const t0 = Date.now();
  to.gate.open();
  try {
    await to.gate.confirm(confirmDeadlineMs);
  } catch (err) {
    // The old slot never stopped serving: put the gates back as they were.
    to.gate.close();
    throw err;
  }
  const t1 = Date.now();
  log?.info({ event: 'slot_in_service', slot: to.dial, ms: t1 - t0 }, 'new slot in service');
  from.gate.close();
  await from.gate.confirm(confirmDeadlineMs);
  const t2 = Date.now();
  log?.info({ event: 'slot_out_of_service', slot: from.dial, ms: t2 - t1 }, 'old slot out of service');
  const { drained, inFlight } = await drainUpstream(admin, from.dial, opts.drainDeadlineMs ?? DRAIN_DEADLINE_MS);
  const t3 = Date.now();
  log?.info({ event: drained ? 'slot_drained' : 'slot_drain_deadline', slot: from.dial, ms: t3 - t2, inFlight }, drained ? 'old slot drained' : 'old slot drain deadline passed');
  return { openMs: t1 - t0, closeMs: t2 - t1, drainMs: t3 - t2, drained, inFlightLeft: inFlight };
}

// Waits until Caddy reports no request in flight to `dial` (an upstream it no longer selects).
export async function drainUpstream(admin: CaddyAdmin, dial: string, deadlineMs = DRAIN_DEADLINE_MS): Promise<{ drained: boolean; inFlight: number }> {
  const deadline = Date.now() + deadlineMs;
  for (;;) {
    const upstream = (await admin.upstreams()).find((u) => u.address === dial);
    const inFlight = upstream?.num_requests ?? 0;
    if (inFlight === 0) return { drained: true, inFlight };
    if (Date.now() >= deadline) return { drained: false, inFlight };
    await new Promise((r) => setTimeout(r, Math.min(DRAIN_POLL_MS, Math.max(0, deadline - Date.now()))));
  }
}
