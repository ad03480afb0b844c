// A build context as a tar made in memory (ustar, regular files only): for small generated
// contexts and tests. A git checkout's context comes from `git archive` instead.
const BLOCK = 512;

export interface ContextFile {
  // Relative path inside the context, '/'-separated (at most 100 bytes).
  path: string;
  content: string | Buffer;
  mode?: number;
}

export function contextTar(files: ContextFile[]): Buffer {
  const parts: Buffer[] = [];
  for (const f of files) {
    const data = typeof f.content === 'string' ? Buffer.from(f.content) : f.content;
    const name = Buffer.from(f.path);
    if (name.length === 0 || name.length > 100 || f.path.startsWith('/') || f.path.split('/').includes('..')) {
      throw new Error(`context file path "${f.path}" must be relative, without "..", at most 100 bytes`);
    }
    const header = Buffer.alloc(BLOCK);
    name.copy(header, 0);
    octal(header, 100, 8, f.mode ?? 0o644);
    octal(header, 108, 8, 0);
    octal(header, 116, 8, 0);
    octal(header, 124, 12, data.length);
    octal(header, 136, 12, 0);
    header.fill(' ', 148, 156);
    header.write('0', 156);
    header.write('ustar\u000000', 257, 'latin1');
    let sum = 0;
    for (const byte of header) sum += byte;
    header.write(`${sum.toString(8).padStart(6, '0')}\u0000 `, 148, 'latin1');
    parts.push(header, data, Buffer.alloc((BLOCK - (data.length % BLOCK)) % BLOCK));
  }
  parts.push(Buffer.alloc(BLOCK * 2));
  return Buffer.concat(parts);
}

function octal(buf: Buffer, offset: number, width: number, value: number): void {
  buf.write(`${value.toString(8).padStart(width - 1, '0')}\u0000`, offset, 'latin1');
}
