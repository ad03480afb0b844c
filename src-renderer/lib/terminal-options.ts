// The look of every xterm in the app (live sessions and replays): one dark palette in both
// colour schemes, the UI's monospace stack, no bell.
import type { ITerminalInitOnlyOptions, ITerminalOptions } from '@xterm/xterm';

export const TERMINAL_FONT = `ui-monospace, 'SF Mono', 'Cascadia Mono', 'DejaVu Sans Mono', Menlo, Consolas, monospace`;
// Lines a live session keeps above the screen.
export const TERMINAL_SCROLLBACK = 5_000;

export const terminalTheme: NonNullable<ITerminalOptions['theme']> = {
  background: '#101216',
  foreground: '#d7dae0',
  cursor: '#d7dae0',
  selectionBackground: '#3a4a6b',
  black: '#1d2128',
  red: '#e06c75',
  green: '#98c379',
  yellow: '#e5c07b',
  blue: '#61afef',
  magenta: '#c678dd',
  cyan: '#56b6c2',
  white: '#d7dae0',
  brightBlack: '#5c6370',
  brightRed: '#ef8790',
  brightGreen: '#b5e08f',
  brightYellow: '#f0d49a',
  brightBlue: '#86c3f7',
  brightMagenta: '#d99ae8',
  brightCyan: '#7fd0da',
  brightWhite: '#ffffff',
};

export function terminalOptions(extra: ITerminalOptions & ITerminalInitOnlyOptions = {}): ITerminalOptions & ITerminalInitOnlyOptions {
  return { fontFamily: TERMINAL_FONT, fontSize: 13, lineHeight: 1.15, theme: terminalTheme, scrollback: TERMINAL_SCROLLBACK, ...extra };
}

export type TerminalKeyAction = 'copy' | 'paste' | 'close' | null;

// The page's keys on top of the shell's: Ctrl+Shift+C copies the selection, Ctrl+Shift+V
// pastes (the browser's own paste, which xterm reads), Ctrl+Shift+X closes the session.
// Everything else, Escape and Ctrl+C included, belongs to the program in the terminal.
export function terminalKeyAction(e: { type: string; key: string; ctrlKey: boolean; shiftKey: boolean; altKey: boolean; metaKey: boolean }): TerminalKeyAction {
  if (e.type !== 'keydown' || !e.ctrlKey || !e.shiftKey || e.altKey || e.metaKey) return null;
  switch (e.key.toLowerCase()) {
    case 'c':
      return 'copy';
    case 'v':
      return 'paste';
    case 'x':
      return 'close';
    default:
      return null;
  }
}
