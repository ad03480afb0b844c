import { describe, expect, it } from 'vitest';
import { appSlots, DEFAULT_SLOT_APP_PORT, dialAddress, MAX_APP_INDEX, otherSlot, slotIps } from './slots';

describe('slot addresses', () => {
  it('gives app k the pair 127.0.1.(2k+1) / 127.0.1.(2k+2)', () => {
    expect(slotIps(0)).toEqual({ a: '127.0.1.1', b: '127.0.1.2' });
    expect(slotIps(1)).toEqual({ a: '127.0.1.3', b: '127.0.1.4' });
    expect(slotIps(126)).toEqual({ a: '127.0.1.253', b: '127.0.1.254' });
  });

  it('continues in the next /24 without using .0 or .255', () => {
    expect(slotIps(127)).toEqual({ a: '127.0.2.1', b: '127.0.2.2' });
    expect(slotIps(MAX_APP_INDEX)).toEqual({ a: '127.0.255.253', b: '127.0.255.254' });
  });

  it('never hands out the same address twice', () => {
    const seen = new Set<string>();
    for (let k = 0; k <= MAX_APP_INDEX; k++) {
      const { a, b } = slotIps(k);
      seen.add(a).add(b);
    }
    expect(seen.size).toBe(2 * (MAX_APP_INDEX + 1));
  });

  it('refuses indexes it has no addresses for', () => {
    expect(() => slotIps(-1)).toThrow('app index -1 is out of range');
    expect(() => slotIps(MAX_APP_INDEX + 1)).toThrow(`slots exist for app indexes 0 to ${MAX_APP_INDEX}`);
    expect(() => slotIps(1.5)).toThrow(RangeError);
    expect(() => appSlots(0, 70_000)).toThrow('app port 70000 is not a TCP port');
  });

  it('builds both slots with the fixed app port, and their dial addresses', () => {
    const slots = appSlots(2);
    expect(slots).toEqual({ a: { ip: '127.0.1.5', port: DEFAULT_SLOT_APP_PORT }, b: { ip: '127.0.1.6', port: DEFAULT_SLOT_APP_PORT } });
    expect(dialAddress(slots.b)).toBe(`127.0.1.6:${DEFAULT_SLOT_APP_PORT}`);
    expect(otherSlot('a')).toBe('b');
    expect(otherSlot('b')).toBe('a');
  });
});
