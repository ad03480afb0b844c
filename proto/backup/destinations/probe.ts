// "Test connection", the same for every destination: reach and authenticate (the destination's
// own connect step), then write a small probe object, read it back byte for byte, delete it.
import { randomBytes } from 'node:crypto';
import { Readable } from 'node:stream';
import type { BackupDestination, TestResult } from './destination';
import { PROBE_BYTES, PROBE_KEY_PREFIX } from './destination';
import { DestinationError, DestinationIoError, errorText, type ProbeStep } from './errors';

export async function probeDestination(dest: BackupDestination, connect: () => Promise<void>): Promise<TestResult> {
  await step('reach', connect);
  const key = `${PROBE_KEY_PREFIX}${randomBytes(8).toString('hex')}`;
  const payload = randomBytes(PROBE_BYTES);
  await step('write', () => dest.put(key, Readable.from([payload])));
  try {
    const back = await step('read', async () => {
      const chunks: Buffer[] = [];
      for await (const chunk of await dest.get(key)) chunks.push(chunk as Buffer);
      return Buffer.concat(chunks);
    });
    if (!back.equals(payload)) {
      throw stepped('read', new DestinationIoError(`${dest.where}: the probe read back differs from what was written (${back.length} of ${PROBE_BYTES} bytes): the storage is corrupting data; check the disk or server`));
    }
  } catch (err) {
    await dest.delete(key).catch(() => undefined);
    throw err;
  }
  await step('delete', () => dest.delete(key));
  return { ok: true, detail: `${dest.where}: reached, authenticated, wrote, read back and deleted a ${PROBE_BYTES}-byte probe` };
}

async function step<T>(name: ProbeStep, run: () => Promise<T>): Promise<T> {
  try {
    return await run();
  } catch (err) {
    if (err instanceof DestinationError) {
      if (!err.step) err.step = err.code === 'auth' || err.code === 'host_key' ? 'authenticate' : name;
      throw err;
    }
    throw stepped(name, new DestinationIoError(`the "${name}" step failed: ${errorText(err)}`, err));
  }
}

function stepped(name: ProbeStep, err: DestinationError): DestinationError {
  err.step = name;
  return err;
}
