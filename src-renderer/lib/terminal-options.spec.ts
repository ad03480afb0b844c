import { describe, expect, it } from 'vitest';
import { terminalKeyAction } from './terminal-options';

const key = (key: string, mods: Partial<{ ctrlKey: boolean; shiftKey: boolean; altKey: boolean; metaKey: boolean }> = {}, type = 'keydown') => ({
  type,
  key,
  ctrlKey: false,
  shiftKey: false,
  altKey: false,
  metaKey: false,
  ...mods,
});

describe('terminalKeyAction', () => {
  it('takes Ctrl+Shift+C, V and X for the page', () => {
    expect(terminalKeyAction(key('C', { ctrlKey: true, shiftKey: true }))).toBe('copy');
    expect(terminalKeyAction(key('V', { ctrlKey: true, shiftKey: true }))).toBe('paste');
    expect(terminalKeyAction(key('X', { ctrlKey: true, shiftKey: true }))).toBe('close');
  });

  it('leaves Escape, Ctrl+C, Ctrl+V, other chords and key-ups to the program', () => {
    expect(terminalKeyAction(key('Escape'))).toBeNull();
    expect(terminalKeyAction(key('c', { ctrlKey: true }))).toBeNull();
    expect(terminalKeyAction(key('v', { ctrlKey: true }))).toBeNull();
    expect(terminalKeyAction(key('X', { ctrlKey: true, shiftKey: true, altKey: true }))).toBeNull();
    expect(terminalKeyAction(key('W', { ctrlKey: true, shiftKey: true }))).toBeNull();
    expect(terminalKeyAction(key('X', { ctrlKey: true, shiftKey: true }, 'keyup'))).toBeNull();
  });
});
