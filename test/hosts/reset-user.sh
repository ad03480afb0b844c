#!/usr/bin/env bash
# Makes USER's test host fresh again for the next test: every process of the user ended (agent,
# supervisor, Podman's service and pause process), its containers, pods and volumes removed, and
# ~/.local/share/podploy deleted. The user, its keys, its Podman configuration and the local
# busybox image stay. Only the test users of setup.sh are accepted. Run as root.
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=lib.sh
source "$here/lib.sh"
ppt_require_root
u=${1:?usage: reset-user.sh USER}
ppt_is_user "$u" || ppt_die "reset-user.sh: $u is not one of the test users (${PPT_USERS[*]})"
id "$u" >/dev/null 2>&1 || exit 0 # hosts not set up: nothing to reset
home=$(getent passwd "$u" | cut -d: -f6)

uid=$(id -u "$u")
# Podman's runtime state (pause process pid, container states, mount counts) lives under /tmp.
# Once the user's processes are gone it describes processes that no longer exist, and Podman
# refuses to work ("invalid internal status ... podman system migrate"): remove it, which is
# what a reboot does, and Podman starts over from its storage as after a reboot.
forget_runtime_state() {
  rm -rf "/tmp/podman-run-$uid" "/tmp/containers-user-$uid" "/run/user/$uid/libpod" "/run/user/$uid/containers" \
    "/dev/shm/libpod_rootless_lock_$uid"
}
# Podman as the user, quiet unless it fails (it warns that / is not a shared mount here).
podman_quiet() {
  local err
  err=$(ppt_podman_as "$u" "$@" 2>&1 >/dev/null) || ppt_die "reset-user.sh: podman $* failed for $u: $err"
}

# Every process first (the supervisor would restart what is removed below), then Podman's state.
ppt_kill_user "$u"
forget_runtime_state
if [[ -d $home/.local/share/containers/storage ]]; then
  podman_quiet rm --all --force --time 0
  podman_quiet pod rm --all --force
  podman_quiet volume rm --all --force
  left=$(ppt_podman_as "$u" ps --all --quiet 2>/dev/null) || ppt_die "reset-user.sh: podman ps fails for $u"
  [[ -z $left ]] || ppt_die "reset-user.sh: containers of $u survive podman rm: $left"
fi
# The pause process Podman just started belongs to the root network namespace: end it too, so
# the next Podman of this user starts from an SSH session on its own host.
ppt_kill_user "$u"
forget_runtime_state
rm -rf "$home/.local/share/podploy" "$home/.config/systemd/user/podploy-agent.service"
