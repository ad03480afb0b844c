// Stable upstream slots: each app on a node owns two loopback addresses, slot A and slot B,
// that never change while the app exists. Caddy's route lists both; a deploy moves traffic by
// what runs behind them (and by their slot gates), never by changing Caddy's configuration.
// Pure: no I/O.

// All of 127.0.0.0/8 is loopback on Linux, so every slot gets its own IP and every app can use
// the same fixed ports. Slots live in 127.0.<subnet>.<host>, subnets counted from this one.
export const SLOT_FIRST_SUBNET = 1;
export const SLOT_LAST_SUBNET = 255;
// Host parts .1 to .254 hold 127 pairs: app k's slot A is .(2k+1), slot B is .(2k+2).
export const APPS_PER_SLOT_SUBNET = 127;
export const MAX_APP_INDEX = (SLOT_LAST_SUBNET - SLOT_FIRST_SUBNET + 1) * APPS_PER_SLOT_SUBNET - 1;
// Where the container publishes its port on its slot IP (below Linux's ephemeral port range).
export const DEFAULT_SLOT_APP_PORT = 28080;
// Where the agent's slot gate answers Caddy's active health checks on each slot IP.
export const DEFAULT_SLOT_GATE_PORT = 28081;

export const SLOT_NAMES = ['a', 'b'] as const;
export type SlotName = (typeof SLOT_NAMES)[number];

export interface SlotAddress {
  ip: string;
  port: number;
}

export type AppSlots = Record<SlotName, SlotAddress>;

export function slotIps(appIndex: number): Record<SlotName, string> {
  if (!Number.isInteger(appIndex) || appIndex < 0 || appIndex > MAX_APP_INDEX) {
    throw new RangeError(`app index ${appIndex} is out of range: slots exist for app indexes 0 to ${MAX_APP_INDEX}`);
  }
  const subnet = SLOT_FIRST_SUBNET + Math.floor(appIndex / APPS_PER_SLOT_SUBNET);
  const k = appIndex % APPS_PER_SLOT_SUBNET;
  return { a: `127.0.${subnet}.${2 * k + 1}`, b: `127.0.${subnet}.${2 * k + 2}` };
}

export function appSlots(appIndex: number, appPort: number = DEFAULT_SLOT_APP_PORT): AppSlots {
  assertPort(appPort, 'app port');
  const ips = slotIps(appIndex);
  return { a: { ip: ips.a, port: appPort }, b: { ip: ips.b, port: appPort } };
}

export function otherSlot(slot: SlotName): SlotName {
  return slot === 'a' ? 'b' : 'a';
}

// Caddy's `dial` form of an address ("ip:port").
export function dialAddress(addr: SlotAddress): string {
  return `${addr.ip}:${addr.port}`;
}

export function assertPort(port: number, what: string): void {
  if (!Number.isInteger(port) || port < 1 || port > 65_535) throw new RangeError(`${what} ${port} is not a TCP port (1-65535)`);
}
