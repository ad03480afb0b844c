import { readFile } from 'node:fs/promises';

// The pid inside the process's innermost pid namespace (NSpid's last field), e.g. to kill it
// from inside its container.
export async function namespacePid(pid: number): Promise<number | undefined> {
  try {
    const line = (await readFile(`/proc/${pid}/status`, 'utf8')).split('\n').find((l) => l.startsWith('NSpid:'));
    const last = line?.trim().split(/\s+/).at(-1);
    return last ? Number(last) : undefined;
  } catch {
    return undefined;
  }
}
