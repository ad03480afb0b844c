import { promises as fs } from 'node:fs';

export interface DiskSpace {
  totalBytes: number;
  freeBytes: number;
}

// fs.statfs exists from Node 18.15; on an older Node the agent reports zeros.
export async function diskSpace(path: string): Promise<DiskSpace> {
  const statfs = (fs as { statfs?: (p: string) => Promise<{ bsize: number; blocks: number; bavail: number }> }).statfs;
  if (!statfs) return { totalBytes: 0, freeBytes: 0 };
  try {
    const s = await statfs(path);
    return { totalBytes: s.blocks * s.bsize, freeBytes: s.bavail * s.bsize };
  } catch {
    return { totalBytes: 0, freeBytes: 0 };
  }
}
