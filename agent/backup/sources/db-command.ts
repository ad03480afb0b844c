// What the database dumps and restores share: names checked before they reach a command line or
// SQL, and a shell wrapper that finds the tool and reads a password from stdin, so no secret is
// put in an argv or in Podman's stored exec config (which keeps its environment).
import { Readable } from 'node:stream';
import type { PodmanClient } from '../../podman/client';
import type { ExecCommand } from './exec-process';
import { runExecWithInput } from './exec-stream';

// Exit code of a shell whose command was not found, and of our wrapper when no tool is there.
export const COMMAND_NOT_FOUND = 127;
// Exit code of our wrapper when the password's secret file is not in the container.
export const PASSWORD_FILE_MISSING = 67;
const NAME_PATTERN = /^[A-Za-z0-9_][A-Za-z0-9_$.-]{0,62}$/;

export function checkName(what: string, name: string): void {
  if (!NAME_PATTERN.test(name)) throw new Error(`${what} "${name}" is not a plain name (letters, digits, _ $ . -, at most 63): refusing to put it in a command`);
}

export interface DbCommandSpec {
  container: string;
  // The tools to try in order (mysqldump, then mariadb-dump); the first one installed runs.
  tools: string[];
  args: string[];
  // The environment variable the tool reads its password from (PGPASSWORD, MYSQL_PWD).
  passwordVariable?: string;
  password?: string;
  // Or: a file inside the container holding it (an app secret at /run/secrets/NAME), read by
  // the wrapper there, so the agent never holds the value.
  passwordFile?: string;
  user?: string;
  what: string;
}

// sh -c SCRIPT NAME ARGS…: reads the password line when asked, then execs the first tool found.
export function dbCommand(spec: DbCommandSpec): ExecCommand {
  if (spec.password !== undefined && /[\r\n]/.test(spec.password)) throw new Error(`${spec.what}: the password contains a line break, which the agent cannot pass on stdin`);
  if (spec.passwordFile !== undefined && !/^\/[A-Za-z0-9_.\/-]+$/.test(spec.passwordFile)) throw new Error(`${spec.what}: password file "${spec.passwordFile}" is not a plain absolute path`);
  const variable = spec.passwordVariable;
  const readPassword = !variable
    ? ''
    : spec.passwordFile !== undefined
      ? `[ -r '${spec.passwordFile}' ] || { echo "the password file ${spec.passwordFile} is not in this container (is the secret set for the app?)" >&2; exit ${PASSWORD_FILE_MISSING}; }; ` +
        `v=$(cat '${spec.passwordFile}' && printf x) || exit ${PASSWORD_FILE_MISSING}; ${variable}=\${v%x}; unset v; export ${variable}; `
      : spec.password !== undefined
        ? `IFS= read -r ${variable} || true; export ${variable}; `
        : '';
  const tools = spec.tools.join(' ');
  const script =
    `${readPassword}for tool in ${tools}; do command -v "$tool" >/dev/null 2>&1 && exec "$tool" "$@"; done; ` +
    `echo "${spec.tools.join(' or ')}: not installed in this container (not on its PATH)" >&2; exit ${COMMAND_NOT_FOUND}`;
  return {
    container: spec.container,
    cmd: ['sh', '-c', script, spec.tools[0]!, ...spec.args],
    user: spec.user,
    what: spec.what,
    stdinPrefix: readPassword && spec.passwordFile === undefined ? Buffer.from(`${spec.password}\n`) : undefined,
    explainExit: (code) => (code === COMMAND_NOT_FOUND ? `${spec.tools.join(' or ')} (or sh) is not installed in container ${spec.container}; dump with a container that has the database's client tools` : undefined),
  };
}

// Runs a short database command (create, drop) to completion; SourceCommandError on failure.
export function runDbCommand(podman: PodmanClient, command: ExecCommand, signal?: AbortSignal): Promise<void> {
  return runExecWithInput(podman, command, Readable.from([]), { signal });
}

// What restoring a dump takes: commands that make the target database, the restore reading the
// dump on stdin, and (into a new database) the command that removes it again on failure.
export interface DbRestoreCommands {
  prepare: ExecCommand[];
  restore: ExecCommand;
  dropOnFailure?: ExecCommand;
}

// Prepares the target, then streams the dump into the restore; a failed restore into a new
// database drops it again.
export async function runDbRestore(podman: PodmanClient, input: Readable, commands: DbRestoreCommands, signal?: AbortSignal): Promise<void> {
  try {
    for (const c of commands.prepare) await runDbCommand(podman, c, signal);
  } catch (err) {
    input.destroy();
    throw err;
  }
  try {
    await runExecWithInput(podman, commands.restore, input, { signal });
  } catch (err) {
    if (commands.dropOnFailure) await runDbCommand(podman, commands.dropOnFailure).catch(() => undefined);
    throw err;
  }
}
