#!/usr/bin/env bash
# Brings up the test hosts the end-to-end suites onboard over SSH: seven "fresh servers", each a
# network namespace (ppt-h1..10, 10.213.N.2) with its own sshd and host keys, and unprivileged
# users with rootless Podman ready. Idempotent: what is already right is left alone, so a run
# against hosts that are up is quick and changes nothing. Run as root; teardown.sh undoes it.
#
#   test/hosts/setup.sh           bring the hosts up (or check and repair them)
#   test/hosts/setup.sh --check   exit 0 when the hosts are up and current, 1 (saying why) if not
#
# Writes /etc/podploy-test/hosts.json (and a copy at $PODPLOY_TEST_HOSTS when set).
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=lib.sh
source "$here/lib.sh"

hosts_json=$PPT_ETC/hosts.json
script_stamp=$PPT_ETC/setup.sha256
this_version=$(cat "$here/lib.sh" "$here/setup.sh" | sha256sum | cut -d' ' -f1)

check() {
  local h u
  [[ -s $hosts_json ]] || { echo "$hosts_json is missing" >&2; return 1; }
  [[ -n ${PODPLOY_TEST_HOSTS:-} && ! -s $PODPLOY_TEST_HOSTS ]] && { echo "$PODPLOY_TEST_HOSTS is missing" >&2; return 1; }
  [[ $(cat "$script_stamp" 2>/dev/null) == "$this_version" ]] || { echo "the hosts were set up by another version of setup.sh" >&2; return 1; }
  for u in "${PPT_USERS[@]}"; do id "$u" >/dev/null 2>&1 || { echo "user $u is missing" >&2; return 1; }; done
  for h in "${PPT_HOSTS[@]}"; do
    [[ -e $(ppt_netns_path "$h") ]] || { echo "$h: network namespace $(ppt_ns "$h") is missing" >&2; return 1; }
    ppt_sshd_pid "$h" >/dev/null || { echo "$h: sshd is not running" >&2; return 1; }
    ppt_port_open "$(ppt_addr "$h")" || { echo "$h: nothing answers on $(ppt_addr "$h"):22" >&2; return 1; }
  done
}

if [[ ${1:-} == --check ]]; then
  check
  exit
fi
ppt_require_root
ppt_lock
started=${EPOCHREALTIME/./}
say() { echo "test hosts: $*"; }

# Writes stdin to FILE (mode MODE, owner OWNER) only when the content differs; sets CHANGED.
CHANGED=0
put() {
  local f=$1 mode=$2 owner=$3 tmp
  tmp=$(mktemp)
  cat >"$tmp"
  if [[ -f $f ]] && cmp -s "$tmp" "$f"; then
    CHANGED=0
    rm -f "$tmp"
    chmod "$mode" "$f"
    chown "$owner" "$f"
  else
    CHANGED=1
    install -m "$mode" -o "${owner%%:*}" -g "${owner##*:}" "$tmp" "$f"
    rm -f "$tmp"
  fi
}

install -d -m 755 "$PPT_ETC" "$PPT_RUN" "$PPT_LOG"

# --- keys and the password ---------------------------------------------------------------
for key in client_ed25519 wrong_ed25519; do
  if [[ ! -s $PPT_ETC/$key ]]; then
    ssh-keygen -q -t ed25519 -N '' -C "podploy-test-$key" -f "$PPT_ETC/$key"
    say "made $PPT_ETC/$key"
  fi
  chmod 600 "$PPT_ETC/$key"
done
client_pub=$(cat "$PPT_ETC/client_ed25519.pub")
password_file=$PPT_ETC/$PPT_PASS_USER.password
if [[ ! -s $password_file ]]; then
  (umask 077 && head -c 32 /dev/urandom | base64 | tr -dc 'A-Za-z0-9' | head -c 20 >"$password_file")
fi
chmod 600 "$password_file"
password=$(cat "$password_file")
# ssh reads the password for the setup's own checks from this (SSH_ASKPASS; no sshpass needed).
put "$PPT_ETC/askpass" 700 root:root <<ASK
#!/bin/sh
cat '$password_file'
ASK

# --- the busybox image (no registry is reachable: import a rootfs of Debian's busybox) ----
busybox_tar=$PPT_ETC/busybox-image.tar
if [[ ! -s $busybox_tar ]]; then
  [[ -x /bin/busybox ]] || ppt_die "/bin/busybox is missing: apt-get install busybox-static"
  rootfs=$(mktemp -d)
  mkdir -p "$rootfs"/{bin,sbin,usr/bin,usr/sbin,etc,root,tmp,proc,sys,dev,var/tmp}
  chmod 1777 "$rootfs/tmp" "$rootfs/var/tmp"
  cp /bin/busybox "$rootfs/bin/busybox"
  /bin/busybox --list-full | while read -r applet; do
    [[ -e $rootfs/$applet ]] || ln -s /bin/busybox "$rootfs/$applet"
  done
  printf 'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/:/bin/false\n' >"$rootfs/etc/passwd"
  printf 'root:x:0:\nnogroup:x:65534:\n' >"$rootfs/etc/group"
  tar -C "$rootfs" --numeric-owner --owner=0 --group=0 -cf "$busybox_tar.tmp" .
  mv "$busybox_tar.tmp" "$busybox_tar"
  rm -rf "$rootfs"
  say "built $busybox_tar"
fi
chmod 644 "$busybox_tar"

# --- ppbare2's PATH: a symlink to every executable except Podman -------------------------
bare_dirs=(/usr/local/bin /usr/bin /bin /usr/sbin /sbin)
node_dir=$(dirname "$(command -v node 2>/dev/null || echo /usr/bin/node)")
[[ " ${bare_dirs[*]} " == *" $node_dir "* ]] || bare_dirs=("$node_dir" "${bare_dirs[@]}")
mkdir -p "$PPT_BARE_BIN"
declare -A want=()
for d in "${bare_dirs[@]}"; do
  [[ -d $d ]] || continue
  for f in "$d"/*; do
    n=${f##*/}
    [[ -n ${want[$n]:-} || $n == podman* || -d $f || ! -x $f ]] && continue
    want[$n]=$f
  done
done
declare -A have=()
while IFS=$'\t' read -r n target; do have[$n]=$target; done < <(find "$PPT_BARE_BIN" -mindepth 1 -maxdepth 1 -printf '%f\t%l\n')
bare_changes=0
for n in "${!have[@]}"; do
  [[ ${want[$n]:-} == "${have[$n]}" ]] && continue
  rm -f "${PPT_BARE_BIN:?}/$n"
  unset 'have[$n]'
  bare_changes=$((bare_changes + 1))
done
for n in "${!want[@]}"; do
  [[ -n ${have[$n]:-} ]] && continue
  ln -s "${want[$n]}" "$PPT_BARE_BIN/$n"
  bare_changes=$((bare_changes + 1))
done
((bare_changes == 0)) || say "$PPT_BARE_BIN: $bare_changes links updated"
unset want have

# --- users -------------------------------------------------------------------------------
next_subid() { # FILE: first id after every range in it (useradd normally assigns ranges itself)
  awk -F: 'BEGIN { m = 100000 } { e = $2 + $3; if (e > m) m = e } END { print m }' "$1"
}
for u in "${PPT_USERS[@]}"; do
  if ! id "$u" >/dev/null 2>&1; then
    useradd --create-home --shell /bin/bash --user-group --comment "PodPloy test host $(ppt_host_of "$u")" "$u"
    say "user $u created"
  fi
  home=$(getent passwd "$u" | cut -d: -f6)
  uid=$(id -u "$u")
  # Rootless Podman needs subordinate ids; useradd gives them, but make sure.
  for kind in uid gid; do
    if ! grep -q "^$u:" "/etc/sub$kind"; then
      start=$(next_subid "/etc/sub$kind")
      usermod "--add-sub${kind}s" "$start-$((start + 65535))" "$u"
      say "$u: sub${kind}s $start-$((start + 65535)) added"
    fi
  done
  # Without PAM, sshd refuses a locked account ('!'), even for key auth; '*' is "no password".
  hash=$(getent shadow "$u" | cut -d: -f2)
  if [[ $u == "$PPT_PASS_USER" ]]; then
    if ! PW="$password" HASH="$hash" perl -e 'exit(crypt($ENV{PW}, $ENV{HASH}) eq $ENV{HASH} ? 0 : 1)'; then
      echo "$u:$password" | chpasswd
      say "$u: password set"
    fi
  elif [[ $hash != '*' ]]; then
    usermod -p '*' "$u"
  fi
  install -d -o "$u" -g "$u" -m 700 "$home/.ssh"
  if [[ " ${PPT_KEY_USERS[*]} " == *" $u "* ]]; then
    put "$home/.ssh/authorized_keys" 600 "$u:$u" <<<"$client_pub"
  else
    rm -f "$home/.ssh/authorized_keys"
  fi
  if [[ $u == "$PPT_BARE_USER" ]]; then
    put "$home/.ssh/environment" 600 "$u:$u" <<<"PATH=$PPT_BARE_BIN"
  fi
  if [[ " ${PPT_PODMAN_USERS[*]} " == *" $u "* ]]; then
    install -d -o "$u" -g "$u" -m 755 "$home/.config" "$home/.config/containers"
    # crun fails on these machines and the default rlimits are refused (see ENVIRONMENT.md).
    put "$home/.config/containers/containers.conf" 644 "$u:$u" <<'CONF'
[engine]
runtime = "runc"

[containers]
default_ulimits = ["nofile=1024:1024", "nproc=1024:1024"]
CONF
    put "$home/.config/containers/storage.conf" 644 "$u:$u" <<'CONF'
[storage]
driver = "overlay"
CONF
    if ((CHANGED)) && [[ -d $home/.local/share/containers/storage ]]; then
      # Storage made with another driver: start it over.
      ppt_kill_user "$u"
      ppt_podman_as "$u" system reset --force >/dev/null 2>&1 || true
      ppt_kill_user "$u"
      say "$u: Podman storage reset for the overlay driver"
    fi
  fi
done

# sudo -n apt-get, nothing else, so the onboarding install step can be exercised.
# ppdeploy7 may also lower the unprivileged port start, so onboarding's grant of ports 80/443
# runs for real on h7.
sudoers=$(for u in "${PPT_SUDO_USERS[@]}"; do echo "$u ALL=(root) NOPASSWD: /usr/bin/apt-get"; done
  echo "ppdeploy7 ALL=(root) NOPASSWD: /usr/sbin/sysctl, /usr/bin/tee /etc/sysctl.d/60-podploy-ports.conf")
tmp=$(mktemp)
echo "$sudoers" >"$tmp"
visudo -c -q -f "$tmp" >/dev/null || ppt_die "the sudoers rules do not parse: $sudoers"
rm -f "$tmp"
put /etc/sudoers.d/podploy-test 440 root:root <<<"$sudoers"
rm -f /etc/sudoers.d/podploy-test-pp* # an earlier layout: one file per user

# --- hosts: namespace, link, sshd --------------------------------------------------------
for h in "${PPT_HOSTS[@]}"; do
  ns=$(ppt_ns "$h")
  nspath=$(ppt_netns_path "$h")
  outer=$ns-o
  inner=$ns-i
  addr=$(ppt_addr "$h")
  gw=$(ppt_gw "$h")
  if [[ -e $nspath ]] && ! findmnt -n "/run/netns/$ns" >/dev/null 2>&1; then
    ip netns delete "$ns" 2>/dev/null || rm -f "$nspath" # a stale name left by a reboot
  fi
  if [[ ! -e $nspath ]]; then
    ip netns add "$ns"
    say "$h: network namespace $ns created"
  fi
  if ! ip link show "$outer" >/dev/null 2>&1 || ! ip -n "$ns" link show "$inner" >/dev/null 2>&1; then
    ip link delete "$outer" 2>/dev/null || true
    ip -n "$ns" link delete "$inner" 2>/dev/null || true
    ip link add "$outer" type veth peer name "$inner" netns "$ns"
    say "$h: link $outer <-> $inner created"
  fi
  [[ " $(ip -br addr show dev "$outer") " == *" $gw/24 "* ]] || ip addr add "$gw/24" dev "$outer"
  [[ " $(ip -n "$ns" -br addr show dev "$inner") " == *" $addr/24 "* ]] || ip -n "$ns" addr add "$addr/24" dev "$inner"
  ip link set "$outer" up
  ip -n "$ns" link set "$inner" up
  ip -n "$ns" link set lo up
  # No default route: the host talks to the control plane's address and nothing else.
  ip -n "$ns" route del default 2>/dev/null || true
  nsenter --net="$nspath" sysctl -q -w net.ipv4.ip_unprivileged_port_start=80

  dir=$PPT_ETC/$h
  mkdir -p "$dir"
  [[ -s $dir/ssh_host_ed25519_key ]] || { ppt_new_host_key "$h"; say "$h: host key made"; }
  password_auth=no
  user_env=no
  [[ $h == "$(ppt_host_of "$PPT_PASS_USER")" ]] && password_auth=yes
  [[ $h == "$(ppt_host_of "$PPT_BARE_USER")" ]] && user_env=yes
  put "$dir/sshd_config" 644 root:root <<CONF
# Test host $h ($ns): written by test/hosts/setup.sh.
ListenAddress $addr:22
HostKey $dir/ssh_host_ed25519_key
PidFile $PPT_RUN/$h-sshd.pid
AllowUsers $(ppt_users_of "$h")
PermitRootLogin no
UsePAM no
PubkeyAuthentication yes
AuthorizedKeysFile .ssh/authorized_keys
PasswordAuthentication $password_auth
KbdInteractiveAuthentication no
PermitEmptyPasswords no
PermitUserEnvironment $user_env
StrictModes yes
AllowTcpForwarding yes
AllowStreamLocalForwarding yes
X11Forwarding no
PrintMotd no
PrintLastLog no
MaxSessions 64
MaxStartups 64:30:128
LogLevel INFO
Subsystem sftp internal-sftp
CONF
  if ((CHANGED)) && ppt_sshd_pid "$h" >/dev/null; then
    ppt_stop_sshd "$h"
    say "$h: sshd configuration changed, restarting"
  fi
  # An sshd an earlier layout of this script started (pid file in /run).
  legacy=/run/podploy-test-sshd-$h.pid
  if [[ -s $legacy ]]; then kill "$(cat "$legacy")" 2>/dev/null || true; rm -f "$legacy"; fi
  if ! ppt_sshd_pid "$h" >/dev/null; then
    ppt_start_sshd "$h"
    say "$h: sshd listening on $addr:22"
  fi
done

# --- rootless Podman, checked over SSH as the tests will use it ---------------------------
ssh_opts=(-o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null -o LogLevel=ERROR
  -o ConnectTimeout="$PPT_SSH_TIMEOUT_S" -o IdentitiesOnly=yes)
as_user() { # USER COMMAND... (stdin passes through)
  local u=$1 addr
  shift
  addr=$(ppt_addr "$(ppt_host_of "$u")")
  if [[ $u == "$PPT_PASS_USER" ]]; then
    SSH_ASKPASS=$PPT_ETC/askpass SSH_ASKPASS_REQUIRE=force DISPLAY=none \
      ssh "${ssh_opts[@]}" -o PubkeyAuthentication=no -o PreferredAuthentications=password \
      -o NumberOfPasswordPrompts=1 "$u@$addr" "$@"
  else
    ssh "${ssh_opts[@]}" -o BatchMode=yes -i "$PPT_ETC/client_ed25519" "$u@$addr" "$@"
  fi
}
prepare_podman() { # USER: import the image when missing, then prove a container runs
  local u=$1 stamp=$PPT_ETC/podman-ok.$1 label out
  label=$(as_user "$u" "podman image inspect --format '{{index .Labels \"podploy-test.image\"}}' $PPT_IMAGE 2>/dev/null" </dev/null || true)
  if [[ $label != "$PPT_IMAGE_VERSION" ]]; then
    rm -f "$stamp"
    as_user "$u" "podman rmi -f $PPT_IMAGE >/dev/null 2>&1; podman import --quiet --change 'CMD [\"/bin/sh\"]' --change 'LABEL podploy-test.image=$PPT_IMAGE_VERSION' - $PPT_IMAGE >/dev/null" <"$busybox_tar" ||
      { echo "$u: podman import failed" >&2; return 1; }
    say "$u: imported $PPT_IMAGE"
  fi
  [[ -e $stamp ]] && return 0
  # No XDG_RUNTIME_DIR in these sessions (no PAM, no systemd): Podman uses /tmp/podman-run-UID.
  out=$(as_user "$u" "test -z \"\${XDG_RUNTIME_DIR:-}\" || echo XDG_RUNTIME_DIR=\$XDG_RUNTIME_DIR; podman info --format 'driver={{.Store.GraphDriverName}} rootless={{.Host.Security.Rootless}}' && podman run --rm $PPT_IMAGE echo ok" </dev/null 2>&1) ||
    { echo "$u: rootless Podman does not work over SSH:" >&2; echo "$out" >&2; return 1; }
  if [[ $out != *"driver=overlay rootless=true"* || $out != *$'\nok'* ]]; then
    echo "$u: unexpected answer from rootless Podman over SSH:" >&2
    echo "$out" >&2
    return 1
  fi
  [[ $(grep -cv -e '^driver=' -e '^ok$' <<<"$out") == 0 ]] || { echo "$u: Podman warns:" >&2; echo "$out" >&2; }
  touch "$stamp"
  say "$u: rootless Podman runs $PPT_IMAGE over SSH"
}
pids=()
for u in "${PPT_PODMAN_USERS[@]}"; do
  prepare_podman "$u" &
  pids+=($!)
done
failed=0
for p in "${pids[@]}"; do wait "$p" || failed=1; done
((failed == 0)) || ppt_die "rootless Podman is not ready for every user (see above)"

# ppbare2 must not find Podman, and must find everything else.
out=$(as_user "$PPT_BARE_USER" 'command -v podman || echo no-podman; command -v node; command -v uname' </dev/null)
[[ $out == no-podman$'\n'*node$'\n'*uname ]] || ppt_die "$PPT_BARE_USER: expected no podman but node and uname, got: $out"

# --- hosts.json ----------------------------------------------------------------------------
json=$(cat <<JSON
{
  "clientKey": "$PPT_ETC/client_ed25519",
  "wrongKey": "$PPT_ETC/wrong_ed25519",
  "hosts": [
    { "name": "h1", "netns": "$(ppt_ns h1)", "address": "$(ppt_addr h1)", "port": 22,
      "users": { "deploy": "ppdeploy1", "password": { "user": "$PPT_PASS_USER", "password": "$password" } } },
    { "name": "h2", "netns": "$(ppt_ns h2)", "address": "$(ppt_addr h2)", "port": 22,
      "users": { "deploy": "ppdeploy2", "bare": "$PPT_BARE_USER" } },
$(for h in h3 "${PPT_PLAIN_HOSTS[@]}"; do
  printf '    { "name": "%s", "netns": "%s", "address": "%s", "port": 22, "users": { "deploy": "%s" } }' "$h" "$(ppt_ns "$h")" "$(ppt_addr "$h")" "ppdeploy${h#h}"
  [[ $h == "${PPT_PLAIN_HOSTS[-1]}" ]] || printf ',\n'
done)
  ]
}
JSON
)
put "$hosts_json" 644 root:root <<<"$json"
if [[ -n ${PODPLOY_TEST_HOSTS:-} && $PODPLOY_TEST_HOSTS != "$hosts_json" ]]; then
  mkdir -p "$(dirname "$PODPLOY_TEST_HOSTS")"
  put "$PODPLOY_TEST_HOSTS" 644 root:root <<<"$json"
fi
echo "$this_version" >"$script_stamp"
elapsed_ms=$(((${EPOCHREALTIME/./} - started) / 1000))
say "up in $((elapsed_ms / 1000)).$((elapsed_ms % 1000 / 100)) s: $hosts_json"
