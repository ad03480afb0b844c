export function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = Math.floor(s.length / 2);
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
}

export function report(title: string, figures: Record<string, string | number>): void {
  const w = Math.max(...Object.keys(figures).map((k) => k.length));
  console.log(`\n== ${title}`);
  for (const [k, v] of Object.entries(figures)) console.log(`  ${k.padEnd(w)}  ${v}`);
}
