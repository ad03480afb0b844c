import { describe, expect, it } from 'vitest';
import { CHORD_TIMEOUT_MS, isTypingTarget, ShortcutMap } from './keyboard';

const key = (k: string, target: unknown = { tagName: 'BODY' }) => ({ key: k, ctrlKey: false, metaKey: false, altKey: false, target });

describe('ShortcutMap', () => {
  function setup() {
    let t = 0;
    const hits: string[] = [];
    const map = new ShortcutMap(
      [
        { keys: 'g n', description: '', run: () => hits.push('nodes') },
        { keys: 'g a', description: '', run: () => hits.push('audit') },
        { keys: 'n', description: '', run: () => hits.push('add') },
      ],
      () => t,
    );
    return { map, hits, advance: (ms: number) => (t += ms) };
  }

  it('runs chords and single keys', () => {
    const { map, hits } = setup();
    expect(map.handle(key('g'))).toBe(true);
    expect(map.handle(key('n'))).toBe(true);
    map.handle(key('g'));
    map.handle(key('A'));
    map.handle(key('n'));
    expect(hits).toEqual(['nodes', 'audit', 'add']);
  });

  it('forgets a chord prefix after the timeout', () => {
    const { map, hits, advance } = setup();
    map.handle(key('g'));
    advance(CHORD_TIMEOUT_MS + 1);
    map.handle(key('n'));
    expect(hits).toEqual(['add']);
  });

  it('ignores keys typed into fields and keys with modifiers', () => {
    const { map, hits } = setup();
    expect(map.handle(key('n', { tagName: 'INPUT', type: 'text' }))).toBe(false);
    expect(map.handle(key('n', { tagName: 'TEXTAREA' }))).toBe(false);
    expect(map.handle({ ...key('n'), ctrlKey: true })).toBe(false);
    expect(hits).toEqual([]);
    expect(isTypingTarget({ tagName: 'INPUT', type: 'checkbox' })).toBe(false);
    expect(isTypingTarget({ tagName: 'DIV', isContentEditable: true })).toBe(true);
  });
});
