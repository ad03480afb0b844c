// Secrets as environment variables without Podman ever seeing a value: the container's
// entrypoint becomes a tiny `sh -c` that exports each file of the secrets folder (the file's
// name is the variable's name) and then execs the image's own entrypoint + command, so that
// process is PID 1 and gets the signals. Only the names of files exist in the container spec.
// Values are exported byte for byte, trailing newlines included. A secret wins over an
// environment variable of the same name. Images without /bin/sh get the files only.
// Pure: no Node APIs.

export const SECRETS_MOUNT = '/run/secrets';
export const WRAPPER_SHELL = '/bin/sh';
// $0 of the wrapper (shows in `ps` inside the container until the exec).
export const WRAPPER_ARGV0 = 'podploy-secrets';

export function secretsExportScript(dir: string = SECRETS_MOUNT): string {
  // `$(cat f && printf x)` then `${v%x}` keeps trailing newlines that $(...) alone would strip.
  return `for f in ${dir}/*; do [ -f "$f" ] || continue; n=\${f##*/}; v=$(cat "$f" && printf x) || exit 1; export "$n=\${v%x}"; done; unset f n v; exec "$@"`;
}

export interface ImageProcess {
  entrypoint: string[];
  cmd: string[];
}

// The entrypoint and command that run `image`'s process (with `command` replacing its CMD, as
// Podman would) behind the export script; undefined when there is nothing to run.
export function wrapEntrypoint(image: ImageProcess, command: string[] | undefined, dir: string = SECRETS_MOUNT): { entrypoint: string[]; command: string[] } | undefined {
  const argv = [...image.entrypoint, ...(command && command.length ? command : image.cmd)];
  if (!argv.length) return undefined;
  return { entrypoint: [WRAPPER_SHELL, '-c', secretsExportScript(dir), WRAPPER_ARGV0], command: argv };
}
