#!/usr/bin/env bash
# Builds the local TEST APP image, localhost/podploy-test-app:latest, without any registry:
# a rootfs holding Debian's busybox-static (/bin/busybox and a symlink per applet) plus a tiny
# HTTP app, imported with `podman import`. Idempotent: the image carries a label with the hash
# of this script and of busybox, and an image that already has it is left alone.
#
#   test/images/build-test-app.sh          build it for root's Podman
#   test/images/build-test-app.sh USER     build it for USER's rootless Podman (through runuser)
#
# The app (busybox `nc -ll -e`, one shell process per request, Connection: close):
#   GET /health      200 "ok", or 503 "unhealthy" while the file /tmp/unhealthy exists
#   GET /version     the value of $APP_VERSION
#   GET /env?name=X  the value of the environment variable X (404 when unset)
#   GET /ws          101 Switching Protocols, then each line echoed as '$APP_VERSION line'
#   GET /secret?name=X  the content of the file /run/secrets/X (404 when there is none)
#   GET /hang        200 "hanging", then the app hangs: every later request (any path) waits
#                    without an answer while the file /dev/shm/hang exists (remove it to recover;
#                    /dev/shm is emptied by a container restart, so a restart cures the hang)
#   anything else    404
# It listens on $PORT (default 8080), logs one line per request on stdout, and exits on SIGTERM.
set -euo pipefail

IMAGE=localhost/podploy-test-app:latest
target_user=${1:-}
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)

die() { echo "build-test-app: $*" >&2; exit 1; }
[[ $(id -u) == 0 ]] || die "run as root (it uses runuser for another user's Podman)"
[[ -x /bin/busybox ]] || die "/bin/busybox is missing: apt-get install busybox-static"
command -v podman >/dev/null || die "podman is missing: apt-get install podman"
if [[ -n $target_user ]]; then
  id "$target_user" >/dev/null 2>&1 || die "no such user: $target_user"
fi

as_target() { # COMMAND...: run podman as the target user (stdin passes through)
  if [[ -n $target_user ]]; then
    local home
    home=$(getent passwd "$target_user" | cut -d: -f6)
    (cd / && runuser -u "$target_user" -- env HOME="$home" USER="$target_user" LOGNAME="$target_user" "$@")
  else
    "$@"
  fi
}

version=$(cat "$here/build-test-app.sh" /bin/busybox | sha256sum | cut -d' ' -f1 | cut -c1-16)
have=$(as_target podman image inspect --format '{{index .Labels "podploy-test.app"}}' "$IMAGE" 2>/dev/null || true)
if [[ $have == "$version" ]]; then
  echo "build-test-app: $IMAGE is current ($version)"
  exit 0
fi

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
rootfs=$work/rootfs
mkdir -p "$rootfs"/{bin,sbin,usr/bin,usr/sbin,etc,root,tmp,proc,sys,dev,var/tmp,app}
chmod 1777 "$rootfs/tmp" "$rootfs/var/tmp"
cp /bin/busybox "$rootfs/bin/busybox"
/bin/busybox --list-full | while read -r applet; do
  [[ -e $rootfs/$applet ]] || ln -s /bin/busybox "$rootfs/$applet"
done
printf 'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/:/bin/false\n' >"$rootfs/etc/passwd"
printf 'root:x:0:\nnogroup:x:65534:\n' >"$rootfs/etc/group"

# PID 1: a shell that starts the server and exits on SIGTERM (a PID 1 without a handler would
# ignore it, and every stop would wait for the whole grace period).
cat >"$rootfs/app/start" <<'APP'
#!/bin/sh
port=${PORT:-8080}
trap 'echo "podploy-test-app: SIGTERM, exiting"; kill "$server" 2>/dev/null; exit 0' TERM INT
nc -ll -p "$port" -e /app/handle &
server=$!
echo "podploy-test-app ${APP_VERSION:-} listening on $port"
wait "$server"
APP

# One request: stdin and stdout are the connection.
cat >"$rootfs/app/handle" <<'APP'
#!/bin/sh
cr=$(printf '\r')
nl='
'
read -r method target proto || exit 0
while read -r line; do line=${line%"$cr"}; [ -z "$line" ] && break; done
path=${target%%\?*}
query=
case $target in *\?*) query=${target#*\?} ;; esac

respond() { # STATUS BODY
  printf 'HTTP/1.1 %s\r\nContent-Type: text/plain\r\nContent-Length: %s\r\nConnection: close\r\n\r\n%s' "$1" "${#2}" "$2"
  echo "podploy-test-app: $method $target ${1%% *}" >/proc/1/fd/1
}

# Hang mode (/hang): requests are read and then left unanswered while /dev/shm/hang exists.
if [ "$path" != /hang ]; then
  while [ -e /dev/shm/hang ]; do sleep 1; done
fi

case $path in
  /hang)
    # The file first: a request sent after this answer must find the app hanging.
    touch /dev/shm/hang
    respond '200 OK' "hanging$nl" ;;
  /health)
    if [ -e /tmp/unhealthy ]; then respond '503 Service Unavailable' "unhealthy$nl"; else respond '200 OK' "ok$nl"; fi ;;
  /version)
    respond '200 OK' "${APP_VERSION:-}$nl" ;;
  /env)
    name=
    for pair in $(echo "$query" | tr '&' ' '); do
      case $pair in name=*) name=${pair#name=} ;; esac
    done
    case $name in
      '' | [0-9]* | *[!A-Za-z0-9_]*) respond '400 Bad Request' "name must be an environment variable name$nl" ;;
      *)
        # Safe: name is a plain identifier here.
        eval "isset=\${$name+x} value=\${$name-}"
        if [ -n "$isset" ]; then respond '200 OK' "$value$nl"; else respond '404 Not Found' "$name is not set$nl"; fi ;;
    esac ;;
  /secret)
    name=
    for pair in $(echo "$query" | tr '&' ' '); do
      case $pair in name=*) name=${pair#name=} ;; esac
    done
    case $name in
      '' | [0-9]* | *[!A-Za-z0-9_]*) respond '400 Bad Request' "name must be a secret name$nl" ;;
      *)
        if [ -f "/run/secrets/$name" ]; then respond '200 OK' "$(cat "/run/secrets/$name")$nl"; else respond '404 Not Found' "no secret $name$nl"; fi ;;
    esac ;;
  /ws)
    # An upgraded (WebSocket-style) connection: each line comes back prefixed with the version,
    # until the client or the container ends it.
    printf 'HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n'
    echo "podploy-test-app: $method $target 101" >/proc/1/fd/1
    while read -r line; do echo "${APP_VERSION:-} $line"; done ;;
  *)
    respond '404 Not Found' "not found$nl" ;;
esac
APP
chmod 755 "$rootfs/app/start" "$rootfs/app/handle"

tar -C "$rootfs" --sort=name --mtime=@0 --numeric-owner --owner=0 --group=0 -cf "$work/rootfs.tar" .
chmod 755 "$work"
chmod 644 "$work/rootfs.tar"

# Not --force: that would also remove running containers of the old image (other suites may be
# using it); when it is in use, the import below takes the name and the old image stays untagged.
as_target podman rmi "$IMAGE" >/dev/null 2>&1 || true
as_target podman import --quiet \
  --change 'CMD ["/app/start"]' \
  --change 'ENV PORT=8080' \
  --change 'EXPOSE 8080' \
  --change "LABEL podploy-test.app=$version" \
  - "$IMAGE" <"$work/rootfs.tar" >/dev/null || die "podman import failed${target_user:+ (as $target_user)}"
echo "build-test-app: built $IMAGE ($version)${target_user:+ for $target_user}"
