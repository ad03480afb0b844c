// Keyboard shortcuts: single keys ("n") and two-key chords ("g n"), ignored while typing in a
// field or when a modifier is held. Pure logic, unit-tested in keyboard.spec.ts.

export const CHORD_TIMEOUT_MS = 1200;

export interface Shortcut {
  keys: string; // "n" or "g n"
  description: string;
  run: () => void;
}

export interface KeyLike {
  key: string;
  ctrlKey: boolean;
  metaKey: boolean;
  altKey: boolean;
  target: unknown;
}

export function isTypingTarget(target: unknown): boolean {
  const el = target as { tagName?: string; isContentEditable?: boolean; type?: string } | null;
  if (!el || typeof el.tagName !== 'string') return false;
  if (el.isContentEditable) return true;
  const tag = el.tagName.toUpperCase();
  if (tag === 'TEXTAREA' || tag === 'SELECT') return true;
  if (tag !== 'INPUT') return false;
  return !['checkbox', 'radio', 'button', 'submit', 'reset', 'file'].includes((el.type ?? 'text').toLowerCase());
}

export class ShortcutMap {
  private pending: { key: string; at: number } | null = null;

  constructor(
    private shortcuts: Shortcut[],
    private now: () => number = Date.now,
  ) {}

  // Returns true when the key was consumed by a shortcut (or starts a chord).
  handle(e: KeyLike): boolean {
    if (e.ctrlKey || e.metaKey || e.altKey || isTypingTarget(e.target)) {
      this.pending = null;
      return false;
    }
    const key = e.key.length === 1 ? e.key.toLowerCase() : e.key;
    const t = this.now();
    if (this.pending && t - this.pending.at <= CHORD_TIMEOUT_MS) {
      const chord = `${this.pending.key} ${key}`;
      this.pending = null;
      const hit = this.shortcuts.find((s) => s.keys === chord);
      if (hit) {
        hit.run();
        return true;
      }
    }
    this.pending = null;
    if (this.shortcuts.some((s) => s.keys.startsWith(`${key} `))) {
      this.pending = { key, at: t };
      return true;
    }
    const single = this.shortcuts.find((s) => s.keys === key);
    if (single) {
      single.run();
      return true;
    }
    return false;
  }
}
