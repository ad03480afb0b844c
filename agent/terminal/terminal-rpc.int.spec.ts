// The Terminal RPC through the agent's real gRPC server (mutual TLS, signed opens, the nonce
// file): what it refuses, and node shells on a real PTY (util-linux script). No Podman needed.
import { status } from '@grpc/grpc-js';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { OPEN_TERMINAL_TTL_MS } from '../../proto/terminal-defaults';
import { LIVE_TERMINALS_FILE } from './live-sessions';
import { processesMatching, startTerminalAgent, TEST_NODE_ID, type TerminalTestAgent } from './terminal-test-harness';

let agent: TerminalTestAgent;

beforeAll(async () => {
  agent = await startTerminalAgent({ podmanSocket: '/nonexistent/podman.sock' });
}, 30_000);

afterAll(async () => {
  await agent?.stop();
});

describe('Terminal refuses', () => {
  it('an unsigned open, a replayed open, an open for another node, one valid for too long', async () => {
    const signed = agent.sign({ nodeShell: true, command: ['true'] });
    const unsigned = await agent.session({ open: { payload: signed.payload, signature: Buffer.alloc(0) } }).done;
    expect(unsigned.error?.code).toBe(status.PERMISSION_DENIED);
    expect(unsigned.error?.details).toMatch(/rejected the terminal: .*the command carries no signature/);

    const first = await agent.session({ open: signed }).done;
    expect(first.exit).toEqual({ code: 0, reason: 'exited' });
    const replayed = await agent.session({ open: signed }).done;
    expect(replayed.error?.code).toBe(status.PERMISSION_DENIED);
    expect(replayed.error?.details).toMatch(/already used/);

    const elsewhere = await agent.session({ open: agent.sign({ nodeShell: true }, { nodeId: 'another-node' }) }).done;
    expect(elsewhere.error?.code).toBe(status.PERMISSION_DENIED);
    expect(elsewhere.error?.details).toContain(`this is "${TEST_NODE_ID}"`);

    const long = await agent.session({ open: agent.sign({ nodeShell: true }, {}, OPEN_TERMINAL_TTL_MS + 1_000) }).done;
    expect(long.error?.code).toBe(status.PERMISSION_DENIED);
    expect(long.error?.details).toMatch(/valid for 30000 ms at most/);
  });

  it('a first message that is not open, a command without open_terminal, bad sizes, app and node_shell both or neither', async () => {
    const notOpen = await agent.session({ data: Buffer.from('ls\n') }).done;
    expect(notOpen.error?.code).toBe(status.INVALID_ARGUMENT);
    expect(notOpen.error?.details).toMatch(/first message of a Terminal call must be open/);

    const cases: [Parameters<TerminalTestAgent['sign']>[0], RegExp][] = [
      [{ nodeShell: true, cols: 0, rows: 24 }, /cols must be a whole number in 2\.\.1000, got 0/],
      [{ nodeShell: true, cols: 80, rows: 9_999 }, /rows must be a whole number in 1\.\.500, got 9999/],
      [{ nodeShell: true, app: 'web' }, /exactly one of app .* and node_shell/],
      [{}, /exactly one of app .* and node_shell/],
      [{ app: 'Not_An_App' }, /is not an app name/],
      [{ nodeShell: true, sessionId: '' }, /session_id must be/],
    ];
    for (const [open, message] of cases) {
      const out = await agent.session({ open: agent.sign(open) }).done;
      expect(out.error?.code, JSON.stringify(open)).toBe(status.INVALID_ARGUMENT);
      expect(out.error?.details).toMatch(message);
    }
    const labels = await agent.session({ open: agent.sign({}, { openTerminal: undefined, setLabels: { labels: {} } }) }).done;
    expect(labels.error?.code).toBe(status.INVALID_ARGUMENT);
    expect(labels.error?.details).toMatch(/needs a signed command carrying open_terminal/);
  });

  it('an app container when Podman is not there: the call fails with a status, not a hang', async () => {
    const out = await agent.session({ open: agent.sign({ app: 'web' }) }).done;
    expect(out.error?.code).toBe(status.NOT_FOUND);
    expect(out.error?.details).toMatch(/app web has no live container here/);
  });
});

describe('a node shell', () => {
  it('runs on a real terminal: tty, the size after a resize, the typed line echoed and its output once, the exit code', async () => {
    const t = agent.session({ open: agent.sign({ nodeShell: true, cols: 100, rows: 30 }) });
    const opened = await t.waitOpened();
    expect(opened.container).toBe('');
    expect(opened.user).toBe((await import('node:os')).userInfo().username);
    expect(opened.pid).toBeGreaterThan(0);
    t.type('tty; stty size\n');
    await t.waitFor(/\/dev\/pts\/\d+\s+30 100/);
    t.resize(132, 43);
    // The resize travels apart from the input: ask until the new size shows.
    let seen = false;
    for (let i = 0; i < 50 && !seen; i++) {
      t.type('stty size\n');
      seen = await t.waitFor(/43 132/, 200).then(
        () => true,
        () => false,
      );
    }
    expect(seen).toBe(true);
    const marker = Math.floor(Math.random() * 1e6);
    t.type(`echo hi-$((${marker}+1))\n`);
    // The typed line comes back (terminal echo), and the output once.
    await t.waitFor(new RegExp(`echo hi-\\$\\(\\(${marker}\\+1\\)\\)[\\s\\S]*hi-${marker + 1}\\r\\n`));
    expect(t.text().split(`hi-${marker + 1}`).length - 1).toBe(1);
    t.type('exit 7\n');
    const out = await t.done;
    expect(out.exit).toEqual({ code: 7, reason: 'exited' });
    expect(out.error).toBeUndefined();
    expect(t.messagesAfterExit).toBe(0);
  });

  it('without a tty keeps stdout and stderr apart, and stdin_eof lets the process finish', async () => {
    const t = agent.session({ open: agent.sign({ nodeShell: true, tty: false, cols: 0, rows: 0, command: ['sh', '-c', 'cat; echo to-err >&2; exit 3'] }) });
    await t.waitOpened();
    t.type('from-stdin\n');
    t.call.write({ stdinEof: true });
    const out = await t.done;
    expect(out.exit).toEqual({ code: 3, reason: 'exited' });
    expect(t.text()).toBe('from-stdin\n');
    expect(t.errText()).toBe('to-err\n');
  });

  it('closing the stream ends the shell and what it started (also what ignores SIGHUP); the exit says so', async () => {
    const marker = `${Math.floor(Math.random() * 1e6) + 1000}`;
    const t = agent.session({ open: agent.sign({ nodeShell: true }) });
    await t.waitOpened();
    expect(existsSync(join(agent.dir, LIVE_TERMINALS_FILE))).toBe(true);
    t.type(`sleep ${marker} & (trap '' HUP; exec sleep ${Number(marker) + 1}) & echo started-$((1+1))\n`);
    await t.waitFor(/started-2/);
    expect(processesMatching(new RegExp(`^sleep ${marker} `)).length).toBe(1);
    expect(processesMatching(new RegExp(`^sleep ${Number(marker) + 1} `)).length).toBe(1);
    t.call.end();
    const out = await t.done;
    expect(out.exit).toEqual({ code: -1, reason: 'closed by the caller' });
    expect(processesMatching(new RegExp(`^sleep (${marker}|${Number(marker) + 1}) `))).toEqual([]);
    expect(agent.sessions.list()).toEqual([]);

    const closed = agent.logLines().filter((l) => l.event === 'terminal_closed').at(-1)!;
    expect(closed).toMatchObject({ actor: 'alice', target: 'node shell', exitCode: -1, reason: 'closed by the caller' });
    expect(closed.bytesIn).toBeGreaterThan(0);
    expect(closed.bytesOut).toBeGreaterThan(0);
    // What was typed is nowhere in the log.
    expect(JSON.stringify(agent.logLines())).not.toContain(`sleep ${marker}`);
    const kinds = agent.events.map((e) => e.kind);
    expect(kinds).toContain('terminal.opened');
    expect(agent.events.filter((e) => e.kind === 'terminal.closed').at(-1)?.data).toMatchObject({ actor: 'alice', target: 'node shell', exitCode: -1 });
  });

  it('a cancel ends the session too', async () => {
    const marker = `${Math.floor(Math.random() * 1e6) + 2_000_000}`;
    const t = agent.session({ open: agent.sign({ nodeShell: true }) });
    await t.waitOpened();
    t.type(`sleep ${marker} & echo bg-$((2+2))\n`);
    await t.waitFor(/bg-4/);
    t.call.cancel();
    const out = await t.done;
    expect(out.error?.code).toBe(status.CANCELLED);
    for (let i = 0; i < 100 && processesMatching(new RegExp(`^sleep ${marker} `)).length; i++) await new Promise((r) => setTimeout(r, 50));
    expect(processesMatching(new RegExp(`^sleep ${marker} `))).toEqual([]);
  });
});
