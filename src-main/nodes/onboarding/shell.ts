// Quotes a value for a POSIX shell command line.
export function q(value: string): string {
  if (/^[A-Za-z0-9_\/.:=@%+-]+$/.test(value)) return value;
  return `'${value.replace(/'/g, `'\\''`)}'`;
}
