#!/usr/bin/env bash
# Removes everything setup.sh made: the test users' processes, containers and homes, each host's
# sshd and network namespace, the sudoers rule, /opt/ppbare and /etc/podploy-test. Run as root.
set -uo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=lib.sh
source "$here/lib.sh"
ppt_require_root
ppt_lock

for h in "${PPT_HOSTS[@]}"; do
  ppt_stop_sshd "$h"
  legacy=/run/podploy-test-sshd-$h.pid # an earlier layout of setup.sh
  if [[ -s $legacy ]]; then kill "$(cat "$legacy")" 2>/dev/null; rm -f "$legacy"; fi
done
# Signal every test user at once: their processes die together (reaping can take a second).
for u in "${PPT_USERS[@]}"; do pkill -KILL -u "$u" 2>/dev/null; done
for u in "${PPT_USERS[@]}"; do
  id "$u" >/dev/null 2>&1 || continue
  uid=$(id -u "$u")
  ppt_kill_user "$u"
  # Rootless overlay storage holds files of the user's subordinate ids: userdel -r removes them
  # as root; Podman's runtime and temporary folders live under /tmp.
  userdel --remove --force "$u" 2>/dev/null
  rm -rf "/tmp/podman-run-$uid" "/tmp/containers-user-$uid" "/tmp/run-$uid" "/run/user/$uid"
  sed -i "/^$u:/d" /etc/subuid /etc/subgid
done
for h in "${PPT_HOSTS[@]}"; do
  ip link delete "$(ppt_ns "$h")-o" 2>/dev/null
  ip netns delete "$(ppt_ns "$h")" 2>/dev/null
done
rm -f /etc/sudoers.d/podploy-test /etc/sudoers.d/podploy-test-pp*
[[ -n ${PODPLOY_TEST_HOSTS:-} && $PODPLOY_TEST_HOSTS != "$PPT_ETC/hosts.json" ]] && rm -f "$PODPLOY_TEST_HOSTS"
rm -rf "$PPT_ETC" "$PPT_RUN" "$PPT_LOG" "$(dirname "$PPT_BARE_BIN")"
echo "test hosts: removed"
