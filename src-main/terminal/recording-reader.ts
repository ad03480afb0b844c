// Reads a sealed recording back: every chunk is authenticated before its text is released, in
// order. A tampered, reordered or wrong-key file fails with ApiError('integrity'); a file that
// ends before its final chunk is accepted only where a crash explains it (allowTruncated).
import { createReadStream } from 'node:fs';
import { ApiError } from '../api/contract';
import { SealedStreamError, SealedStreamReader, SealedStreamTruncatedError, SealedStreamWrongKeyError } from '../../proto/sealed-stream';

// Largest piece of cast text handed on at once (UTF-8 bytes).
export const RECORDING_READ_PIECE_BYTES = 256 * 1024;
const FILE_READ_BYTES = 64 * 1024;

export interface ReadOutcome {
  chars: number;
  truncated: boolean;
}

export async function readRecording(
  path: string,
  key: Uint8Array,
  opts: { id: string; allowTruncated: boolean },
  onText: (text: string) => void | Promise<void>,
): Promise<ReadOutcome> {
  const reader = new SealedStreamReader(key, { salvage: opts.allowTruncated });
  const decoder = new TextDecoder('utf-8', { fatal: false });
  let chars = 0;
  const emit = async (text: string) => {
    if (text.length === 0) return;
    chars += text.length;
    await onText(text);
  };
  try {
    for await (const data of createReadStream(path, { highWaterMark: FILE_READ_BYTES })) {
      for (const plain of reader.push(data as Buffer)) {
        for (let at = 0; at < plain.length; at += RECORDING_READ_PIECE_BYTES) {
          await emit(decoder.decode(plain.subarray(at, at + RECORDING_READ_PIECE_BYTES), { stream: true }));
        }
      }
    }
    const report = reader.finish();
    if (report.stoppedBy && !(report.stoppedBy instanceof SealedStreamTruncatedError)) throw report.stoppedBy;
    await emit(decoder.decode());
    return { chars, truncated: report.truncated };
  } catch (err) {
    throw integrityError(err, opts.id);
  }
}

function integrityError(err: unknown, id: string): unknown {
  if ((err as NodeJS.ErrnoException).code === 'ENOENT') {
    return new ApiError('not_found', `the file of recording ${id} is missing`, 'it was removed from the data folder; delete the entry with `podploy recordings delete`');
  }
  if (!(err instanceof SealedStreamError)) return err;
  if (err instanceof SealedStreamWrongKeyError) {
    return new ApiError('integrity', `recording ${id} was sealed with another key: ${err.message}`, 'it belongs to another control plane (or the master key changed); it cannot be read with this one');
  }
  return new ApiError('integrity', `recording ${id} failed verification: ${err.message}`, 'the file was altered, reordered or cut on disk; keep it for investigation and read the audit log');
}

export interface SalvagedRecording {
  // Seconds of the last complete event; null when none survived.
  lastSeconds: number | null;
  inputBytes: number;
  outputBytes: number;
}

// What a crash left of a recording: every authenticated chunk up to the first damage or the end.
export async function salvageRecording(path: string, key: Uint8Array): Promise<SalvagedRecording> {
  const out: SalvagedRecording = { lastSeconds: null, inputBytes: 0, outputBytes: 0 };
  let tail = '';
  let sawHeader = false;
  const take = (text: string) => {
    tail += text;
    const lines = tail.split('\n');
    tail = lines.pop()!;
    for (const line of lines) {
      if (!sawHeader) {
        sawHeader = true;
        continue;
      }
      let e: unknown;
      try {
        e = JSON.parse(line);
      } catch {
        continue;
      }
      if (!Array.isArray(e) || typeof e[0] !== 'number' || typeof e[2] !== 'string') continue;
      out.lastSeconds = e[0];
      if (e[1] === 'i') out.inputBytes += Buffer.byteLength(e[2]);
      if (e[1] === 'o') out.outputBytes += Buffer.byteLength(e[2]);
    }
  };
  try {
    await readRecording(path, key, { id: '', allowTruncated: true }, take);
  } catch {
    // Whatever verified before the damage counts.
  }
  return out;
}
