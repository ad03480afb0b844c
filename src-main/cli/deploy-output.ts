// Live deploy progress on the terminal. A step's first "running" event is its title; the
// step's further "running" events are its log (a git build's lines, a pull's progress): shown
// as they come, indented and dimmed, so the steps stay readable around them.
import type { DeployProgress } from '../api/contract';
import { formatDeployProgress } from './format';

const DIM = '\u001b[2m';
const RESET = '\u001b[22m';

// Colour when the stream is a terminal, unless NO_COLOR; FORCE_COLOR=1 forces it (e.g. in CI
// logs), FORCE_COLOR=0 turns it off.
export function wantsColor(stream: { isTTY?: boolean }, env: NodeJS.ProcessEnv = process.env): boolean {
  if (env.FORCE_COLOR !== undefined) return env.FORCE_COLOR !== '0';
  if (env.NO_COLOR !== undefined && env.NO_COLOR !== '') return false;
  return !!stream.isTTY;
}

export function deployProgressPrinter(write: (text: string) => void, opts: { color: boolean }): (p: DeployProgress) => void {
  const titled = new Set<string>();
  return (p) => {
    const key = `${p.release}/${p.step}`;
    if (p.state === 'running' && titled.has(key)) {
      const line = `v${p.release} [${p.step}/${p.total}]   │ ${p.message}`;
      write(`${opts.color ? `${DIM}${line}${RESET}` : line}\n`);
      return;
    }
    if (p.state === 'running') titled.add(key);
    write(formatDeployProgress(p) + '\n');
  };
}
