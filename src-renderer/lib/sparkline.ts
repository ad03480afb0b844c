// The geometry of a sparkline: time on x over a fixed window, the value on y, and a break in the
// line where samples are missing (the app was stopped, the node was away) rather than a slope
// that invents data. Pure; unit-tested in sparkline.spec.ts. Drawn by Sparkline.svelte.

export interface SeriesPoint {
  t: number; // ms since the epoch
  v: number;
}

export interface SparkOptions {
  width: number;
  height: number;
  fromMs: number;
  toMs: number;
  // A gap longer than this between two samples breaks the line.
  gapMs: number;
  // The bottom of the scale; the lowest value when absent (the labels say which is which).
  floor?: number;
  // The top of the scale at least (e.g. 1% for CPU so that idle noise stays flat).
  minTop?: number;
  // Space kept above and below the line so a stroke at the edge is not cut.
  pad?: number;
}

export interface Spark {
  // One SVG path per run of samples without a gap: the line, and the area under it.
  lines: string[];
  areas: string[];
  // The scale's bottom and top, and the actual lowest, highest and newest values in the window.
  lo: number;
  hi: number;
  min: number | null;
  max: number | null;
  last: SeriesPoint | null;
  // Where the newest sample sits, for a dot.
  lastX: number | null;
  lastY: number | null;
}

const r1 = (n: number) => Math.round(n * 10) / 10;

export function sparkline(points: readonly SeriesPoint[], o: SparkOptions): Spark {
  const pad = o.pad ?? 2;
  const inWindow = points.filter((p) => p.t >= o.fromMs && p.t <= o.toMs && Number.isFinite(p.v)).sort((a, b) => a.t - b.t);
  const empty: Spark = { lines: [], areas: [], lo: o.floor ?? 0, hi: Math.max(o.floor ?? 0, o.minTop ?? 0), min: null, max: null, last: null, lastX: null, lastY: null };
  if (inWindow.length === 0) return empty;

  const values = inWindow.map((p) => p.v);
  const min = Math.min(...values);
  const max = Math.max(...values);
  const lo = Math.min(o.floor ?? min, min);
  let hi = Math.max(max, o.minTop ?? max);
  if (hi <= lo) hi = lo + (Math.abs(lo) || 1);

  const span = Math.max(1, o.toMs - o.fromMs);
  const x = (t: number) => r1(((t - o.fromMs) / span) * o.width);
  const y = (v: number) => r1(o.height - pad - ((v - lo) / (hi - lo)) * (o.height - 2 * pad));

  const runs: SeriesPoint[][] = [];
  for (const p of inWindow) {
    const run = runs.at(-1);
    if (run && p.t - run[run.length - 1].t <= o.gapMs) run.push(p);
    else runs.push([p]);
  }
  const lines: string[] = [];
  const areas: string[] = [];
  for (const run of runs) {
    const pts = run.map((p) => `${x(p.t)} ${y(p.v)}`);
    // A lone sample is a dot: a zero-length line drawn with a round cap.
    lines.push(run.length === 1 ? `M${pts[0]}h0.1` : `M${pts.join('L')}`);
    if (run.length > 1) areas.push(`M${x(run[0].t)} ${o.height}L${pts.join('L')}L${x(run[run.length - 1].t)} ${o.height}Z`);
  }
  const last = inWindow[inWindow.length - 1];
  return { lines, areas, lo, hi, min, max, last, lastX: x(last.t), lastY: y(last.v) };
}
