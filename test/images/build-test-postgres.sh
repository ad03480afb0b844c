#!/usr/bin/env bash
# Builds the local TEST POSTGRES image, localhost/podploy-test-postgres:latest, without any
# registry: a rootfs assembled from the host's Debian packages (postgresql-15,
# postgresql-client-15, sqlite3, busybox-static) and the shared libraries they load (their ldd
# closure), imported with `podman import`. Idempotent: the image carries a label with the hash of
# this script and the package versions, and an image that already has it is left alone.
#
#   test/images/build-test-postgres.sh        build it for root's Podman
#
# The container runs as user postgres (uid 999): on first start it initdb's /var/lib/postgresql/data
# (trust auth, locale C, UTF8), then runs postgres on the unix socket /run/postgresql only (no
# TCP). pg_dump, psql, pg_restore, createdb, dropdb and sqlite3 are on PATH, with busybox's sh,
# tar, mktemp and the usual applets. Its stop signal is SIGINT (fast shutdown). Test settings: fsync off.
set -euo pipefail

IMAGE=localhost/podploy-test-postgres:latest
PG=15
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)

die() { echo "build-test-postgres: $*" >&2; exit 1; }
[[ $(id -u) == 0 ]] || die "run as root"
command -v podman >/dev/null || die "podman is missing: apt-get install podman"
for pkg in postgresql-$PG postgresql-client-$PG sqlite3 busybox-static; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q 'install ok installed' || die "Debian package $pkg is missing: apt-get install $pkg"
done

versions=$(dpkg-query -W -f='${Package}=${Version}\n' postgresql-$PG postgresql-client-$PG sqlite3 busybox-static)
version=$( (cat "$here/build-test-postgres.sh"; echo "$versions") | sha256sum | cut -c1-16)
have=$(podman image inspect --format '{{index .Labels "podploy-test.postgres"}}' "$IMAGE" 2>/dev/null || true)
if [[ $have == "$version" ]]; then
  echo "build-test-postgres: $IMAGE is current ($version)"
  exit 0
fi

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
rootfs=$work/rootfs
mkdir -p "$rootfs"/{usr/bin,usr/sbin,usr/lib,usr/lib64,etc,root,tmp,proc,sys,dev,run/postgresql,var/tmp,var/lib/postgresql/data}
for d in bin sbin lib lib64; do ln -s "usr/$d" "$rootfs/$d"; done
ln -s ../run "$rootfs/var/run"
chmod 1777 "$rootfs/tmp" "$rootfs/var/tmp"

# PostgreSQL's own files (without the LLVM JIT: jit is off) and the time zones initdb looks up.
tar -C / --exclude='*/bitcode*' --exclude='*/llvmjit*' -cf - usr/lib/postgresql/$PG usr/share/postgresql/$PG usr/share/zoneinfo | tar -C "$rootfs" -xf -
cp /usr/bin/sqlite3 "$rootfs/usr/bin/sqlite3"
cp /bin/busybox "$rootfs/usr/bin/busybox"
/bin/busybox --list-full | while read -r applet; do
  target=$rootfs/usr/${applet#usr/}
  [[ -e $target || -L $target ]] || ln -s /usr/bin/busybox "$target"
done

# The shared libraries every binary and module loads, each under its real directory with the
# name the loader asks for.
elves=$(find "$rootfs/usr/lib/postgresql/$PG" -type f \( -perm -u+x -o -name '*.so' \); echo "$rootfs/usr/bin/sqlite3")
for elf in $elves; do
  ldd "$elf" 2>/dev/null | grep -oE '(=> )?/[^ ]+' | sed 's/^=> //' || true
done | sort -u | while read -r lib; do
  [[ -e $lib ]] || continue
  real=$(readlink -f "$lib")
  dest=$rootfs$(dirname "$real")/$(basename "$lib")
  mkdir -p "$(dirname "$dest")"
  [[ -e $dest ]] || cp -L "$lib" "$dest"
done
[[ -e $rootfs/usr/lib64/ld-linux-x86-64.so.2 ]] || cp -L /lib64/ld-linux-x86-64.so.2 "$rootfs/usr/lib64/ld-linux-x86-64.so.2"

printf 'root:x:0:0:root:/root:/bin/sh\npostgres:x:999:999:PostgreSQL:/var/lib/postgresql:/bin/sh\nnobody:x:65534:65534:nobody:/:/bin/false\n' >"$rootfs/etc/passwd"
printf 'root:x:0:\npostgres:x:999:\nnogroup:x:65534:\n' >"$rootfs/etc/group"

cat >"$rootfs/usr/bin/podploy-postgres" <<'ENTRY'
#!/bin/sh
set -e
if [ ! -s "$PGDATA/PG_VERSION" ]; then
  initdb -D "$PGDATA" -U postgres --auth=trust --locale=C -E UTF8 >/dev/null
fi
# A test database: no fsync, so checkpoints (DROP DATABASE waits for one) do not wait on a busy disk.
exec postgres -D "$PGDATA" -k /run/postgresql -c listen_addresses='' -c jit=off -c fsync=off -c full_page_writes=off -c synchronous_commit=off
ENTRY
chmod 755 "$rootfs/usr/bin/podploy-postgres"
chmod 700 "$rootfs/var/lib/postgresql/data"
chmod 2775 "$rootfs/run/postgresql"

tar -C "$rootfs" --sort=name --mtime=@0 --numeric-owner --owner=0 --group=0 -cf "$work/rootfs.tar" --exclude=./var/lib/postgresql --exclude=./run/postgresql .
tar -C "$rootfs" --sort=name --mtime=@0 --numeric-owner --owner=999 --group=999 -rf "$work/rootfs.tar" ./var/lib/postgresql ./run/postgresql

podman rmi "$IMAGE" >/dev/null 2>&1 || true
podman import --quiet \
  --change 'CMD ["/usr/bin/podploy-postgres"]' \
  --change 'USER postgres' \
  --change "ENV PATH=/usr/lib/postgresql/$PG/bin:/usr/bin:/usr/sbin" \
  --change 'ENV PGDATA=/var/lib/postgresql/data' \
  --change 'ENV PGHOST=/run/postgresql' \
  --change 'STOPSIGNAL SIGINT' \
  --change "LABEL podploy-test.postgres=$version" \
  - "$IMAGE" <"$work/rootfs.tar" >/dev/null || die "podman import failed"
echo "build-test-postgres: built $IMAGE ($version)"
