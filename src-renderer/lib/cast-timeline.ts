// A parsed cast as the player plays it: each event's play time (long pauses cut to the idle
// cap), what the screen needs between two points (output merged, resizes in place), and a
// playback clock with play/pause, speed and seek. Pure (the clock is injected); unit-tested in
// cast-timeline.spec.ts.
import type { Cast, CastEvent } from './cast-parse';
import { parseResize } from './cast-parse';

// A pause longer than this plays as this long (a cast's own idle_time_limit may lower it).
export const IDLE_CAP_SECONDS = 2;
export const PLAYER_SPEEDS = [0.5, 1, 2, 4, 8] as const;
export const SEEK_STEP_SECONDS = 5;

export interface Timeline {
  events: readonly CastEvent[];
  // Play time (seconds) of each event, non-decreasing.
  at: readonly number[];
  duration: number;
  initial: { cols: number; rows: number };
  idleCap: number;
}

export type ScreenOp = { kind: 'write'; data: string } | { kind: 'resize'; cols: number; rows: number };

// reset: clear the screen and size it to `initial` before the ops (a seek backwards).
export interface ScreenUpdate {
  reset: boolean;
  ops: ScreenOp[];
}

export function buildTimeline(cast: Pick<Cast, 'header' | 'events'>, idleCap = IDLE_CAP_SECONDS): Timeline {
  const cap = Math.min(idleCap, cast.header.idleTimeLimit ?? Infinity);
  const at: number[] = [];
  let play = 0;
  let prev = 0;
  for (const e of cast.events) {
    play += Math.min(Math.max(0, e.time - prev), cap);
    prev = e.time;
    at.push(play);
  }
  return { events: cast.events, at, duration: at.length ? at[at.length - 1] : 0, initial: { cols: cast.header.width, rows: cast.header.height }, idleCap: cap };
}

// How many events have happened at play time t (those at exactly t included).
export function countAt(tl: Timeline, t: number): number {
  let lo = 0;
  let hi = tl.at.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (tl.at[mid] <= t) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

// What takes the screen from `from` events played to `to` events played.
export function opsBetween(tl: Timeline, from: number, to: number): ScreenOp[] {
  const ops: ScreenOp[] = [];
  let pending: string[] = [];
  const flush = () => {
    if (pending.length) ops.push({ kind: 'write', data: pending.join('') });
    pending = [];
  };
  for (let i = Math.max(0, from); i < Math.min(to, tl.events.length); i++) {
    const e = tl.events[i];
    if (e.code === 'o') pending.push(e.data);
    else if (e.code === 'r') {
      const size = parseResize(e.data);
      if (size) {
        flush();
        ops.push({ kind: 'resize', ...size });
      }
    }
  }
  flush();
  return ops;
}

// The typed input, for the side list: play time and text.
export function inputEvents(tl: Timeline): { at: number; data: string }[] {
  const out: { at: number; data: string }[] = [];
  tl.events.forEach((e, i) => {
    if (e.code === 'i') out.push({ at: tl.at[i], data: e.data });
  });
  return out;
}

// "1:05", "12:00", "1:02:03".
export function formatPlayTime(seconds: number): string {
  const s = Math.max(0, Math.floor(seconds));
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  const ss = String(s % 60).padStart(2, '0');
  return h ? `${h}:${String(m).padStart(2, '0')}:${ss}` : `${m}:${ss}`;
}

export class CastPlayback {
  playing = false;
  speed = 1;
  // Events already on the screen.
  private shown = 0;
  private anchorPos = 0;
  private anchorAt = 0;

  constructor(
    readonly timeline: Timeline,
    private now: () => number,
  ) {}

  get position(): number {
    if (!this.playing) return this.anchorPos;
    return Math.min(this.timeline.duration, this.anchorPos + ((this.now() - this.anchorAt) / 1000) * this.speed);
  }

  get ended(): boolean {
    return this.position >= this.timeline.duration;
  }

  // From the start, or from where it paused; at the end it starts over.
  play(): ScreenUpdate | null {
    const update = this.ended ? this.seek(0) : null;
    this.anchor(this.position);
    this.playing = true;
    return update;
  }

  pause(): void {
    this.anchor(this.position);
    this.playing = false;
  }

  setSpeed(speed: number): void {
    this.anchor(this.position);
    this.speed = speed;
  }

  // Brings the screen up to the clock; stops at the end.
  tick(): ScreenUpdate | null {
    const pos = this.position;
    if (this.playing && pos >= this.timeline.duration) this.pause();
    return this.advanceTo(countAt(this.timeline, pos));
  }

  // Forwards adds what happened in between; backwards redraws from a reset screen.
  seek(t: number): ScreenUpdate {
    const pos = Math.min(this.timeline.duration, Math.max(0, t));
    this.anchor(pos);
    const n = countAt(this.timeline, pos);
    if (n >= this.shown) return this.advanceTo(n) ?? { reset: false, ops: [] };
    this.shown = n;
    return { reset: true, ops: opsBetween(this.timeline, 0, n) };
  }

  private advanceTo(n: number): ScreenUpdate | null {
    if (n <= this.shown) return null;
    const ops = opsBetween(this.timeline, this.shown, n);
    this.shown = n;
    return ops.length ? { reset: false, ops } : null;
  }

  private anchor(pos: number): void {
    this.anchorPos = pos;
    this.anchorAt = this.now();
  }
}
