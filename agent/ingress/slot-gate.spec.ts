import { request } from 'node:http';
import { describe, expect, it } from 'vitest';
import { HEALTH_CHECK_URI } from './caddy-config';
import { freePort } from './caddy-test-process';
import { GATE_CONFIRMING_CHECKS, SlotGate, SlotGateConfirmTimeout } from './slot-gate';

const IP = '127.0.1.249';

function check(port: number, path = HEALTH_CHECK_URI): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = request({ host: IP, port, path, agent: false }, (res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode ?? 0));
    });
    req.on('error', reject);
    req.end();
  });
}

describe('SlotGate', () => {
  it('answers 200 while open and 503 while closed, on its own slot IP only', async () => {
    const port = await freePort();
    const gate = await SlotGate.start({ ip: IP, port });
    try {
      expect(gate.address).toBe(`${IP}:${port}`);
      expect(gate.current).toBe('closed');
      expect(await check(port)).toBe(503);
      gate.open();
      expect(await check(port)).toBe(200);
      expect(await check(port, '/other')).toBe(404);
      gate.close();
      expect(await check(port)).toBe(503);
    } finally {
      await gate.stop();
    }
    await expect(check(port)).rejects.toThrow('ECONNREFUSED');
  });

  it('confirms a state once enough checks were answered in it, and times out with a clear error otherwise', async () => {
    const port = await freePort();
    const gate = await SlotGate.start({ ip: IP, port, open: true });
    try {
      const confirmed = gate.confirm(5_000);
      for (let i = 0; i < GATE_CONFIRMING_CHECKS; i++) expect(await check(port)).toBe(200);
      await confirmed;
      gate.close();
      const err = await gate.confirm(100).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(SlotGateConfirmTimeout);
      expect((err as Error).message).toBe(
        `slot gate ${IP}:${port}: Caddy did not confirm the gate closed within 100 ms (0 of ${GATE_CONFIRMING_CHECKS} health checks seen); ` +
          `is the app's route loaded in Caddy and is Caddy running?`,
      );
    } finally {
      await gate.stop();
    }
  });

  it('stops listening once a closed state is confirmed (checks cost nothing), and listens again when opened', async () => {
    const port = await freePort();
    const gate = await SlotGate.start({ ip: IP, port, open: true });
    try {
      gate.close();
      const confirmed = gate.confirm(5_000);
      for (let i = 0; i < GATE_CONFIRMING_CHECKS; i++) expect(await check(port)).toBe(503);
      await confirmed;
      await new Promise((r) => setTimeout(r, 20));
      await expect(check(port)).rejects.toThrow('ECONNREFUSED');
      await gate.confirm(100);
      gate.open();
      const open = gate.confirm(5_000);
      await new Promise((r) => setTimeout(r, 20));
      for (let i = 0; i < GATE_CONFIRMING_CHECKS; i++) expect(await check(port)).toBe(200);
      await open;
    } finally {
      await gate.stop();
    }
  });

  it('says which address it cannot listen on', async () => {
    const port = await freePort();
    const gate = await SlotGate.start({ ip: IP, port });
    try {
      await expect(SlotGate.start({ ip: IP, port })).rejects.toThrow(`slot gate ${IP}:${port}: cannot listen: listen EADDRINUSE`);
    } finally {
      await gate.stop();
    }
  });
});
