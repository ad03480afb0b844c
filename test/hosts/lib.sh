# Shared by setup.sh, teardown.sh, reset-user.sh and restart-sshd.sh (sourced, not run): what the
# test hosts are and how their sshd is started and stopped. Every address is 10.213.N.x.

PPT_ETC=/etc/podploy-test                 # keys, per-host sshd config and host keys, hosts.json
PPT_RUN=/run/podploy-test                 # sshd pid files
PPT_LOG=/var/log/podploy-test             # sshd logs (there is no syslog on these machines)
PPT_BARE_BIN=/opt/ppbare/bin              # ppbare2's PATH: everything but podman
PPT_IMAGE=localhost/busybox:latest        # the local test image every Podman user gets
PPT_IMAGE_VERSION=1                       # bump to re-import the image for every user
# h1-h3 serve onboarding, deploys and the UI; h4-h12 give the app suites (secrets, logs, builds,
# TLS, self-healing h8, events h9, benchmarks h10, terminals h11, backups h12) a host each, so they never share a node's ports or Podman.
PPT_HOSTS=(h1 h2 h3 h4 h5 h6 h7 h8 h9 h10 h11 h12)
PPT_PLAIN_HOSTS=(h4 h5 h6 h7 h8 h9 h10 h11 h12)                # one user each: ppdeployN
PPT_USERS=(ppdeploy1 pppass1 ppdeploy2 ppbare2 ppdeploy3 ppdeploy4 ppdeploy5 ppdeploy6 ppdeploy7 ppdeploy8 ppdeploy9 ppdeploy10 ppdeploy11 ppdeploy12)
PPT_PODMAN_USERS=(ppdeploy1 pppass1 ppdeploy2 ppdeploy3 ppdeploy4 ppdeploy5 ppdeploy6 ppdeploy7 ppdeploy8 ppdeploy9 ppdeploy10 ppdeploy11 ppdeploy12) # ppbare2 must not find Podman
PPT_KEY_USERS=(ppdeploy1 ppdeploy2 ppbare2 ppdeploy3 ppdeploy4 ppdeploy5 ppdeploy6 ppdeploy7 ppdeploy8 ppdeploy9 ppdeploy10 ppdeploy11 ppdeploy12)    # pppass1 logs in with its password
PPT_SUDO_USERS=(ppdeploy1 ppdeploy2 ppdeploy3 ppbare2 ppdeploy4 ppdeploy5 ppdeploy6 ppdeploy7 ppdeploy8 ppdeploy9 ppdeploy10 ppdeploy11 ppdeploy12)   # sudo -n /usr/bin/apt-get only
PPT_PASS_USER=pppass1
PPT_BARE_USER=ppbare2
PPT_SSH_TIMEOUT_S=5

ppt_ns() { echo "ppt-$1"; }
ppt_netns_path() { echo "/var/run/netns/ppt-$1"; }
ppt_addr() { echo "10.213.${1#h}.2"; }
ppt_gw() { echo "10.213.${1#h}.1"; }
ppt_users_of() {
  case $1 in
    h1) echo "ppdeploy1 pppass1" ;;
    h2) echo "ppdeploy2 ppbare2" ;;
    h[3-9] | h1[0-2]) echo "ppdeploy${1#h}" ;;
    *) return 1 ;;
  esac
}
ppt_host_of() {
  case $1 in
    ppdeploy1 | pppass1) echo h1 ;;
    ppdeploy2 | ppbare2) echo h2 ;;
    ppdeploy[3-9] | ppdeploy1[0-2]) echo "h${1#ppdeploy}" ;;
    *) return 1 ;;
  esac
}
ppt_is_host() { [[ " ${PPT_HOSTS[*]} " == *" $1 "* ]]; }
ppt_is_user() { ppt_host_of "$1" >/dev/null; }
ppt_die() { echo "test/hosts: $*" >&2; exit 1; }
ppt_require_root() { [[ $(id -u) == 0 ]] || ppt_die "must run as root (sudo $0)"; }

# One of setup.sh / teardown.sh / restart-sshd.sh at a time (suites may start setup.sh in
# parallel through their globalSetup). The lock is released when the script exits.
ppt_lock() {
  exec 9>/run/podploy-test.lock
  flock -w 300 9 || ppt_die "another test/hosts script holds /run/podploy-test.lock for 5 minutes"
}

# Prints the pid of host H's sshd listener, or fails when it is not running.
ppt_sshd_pid() {
  local pidf=$PPT_RUN/$1-sshd.pid pid
  [[ -s $pidf ]] || return 1
  pid=$(<"$pidf")
  [[ $pid =~ ^[0-9]+$ && -r /proc/$pid/cmdline ]] || return 1
  [[ $(tr '\0' ' ' <"/proc/$pid/cmdline") == *"$PPT_ETC/$1/sshd_config"* ]] || return 1
  echo "$pid"
}

# True when something accepts TCP connections on ADDRESS:22.
ppt_port_open() { timeout 1 bash -c "exec 3<>/dev/tcp/$1/22" 2>/dev/null; }

ppt_start_sshd() {
  local h=$1 conf=$PPT_ETC/$1/sshd_config addr i
  addr=$(ppt_addr "$h")
  mkdir -p "$PPT_RUN" "$PPT_LOG" /run/sshd
  chmod 755 /run/sshd
  /usr/sbin/sshd -t -f "$conf" || ppt_die "$h: sshd rejects $conf"
  # nsenter, not `ip netns exec`: the latter remounts /sys, and rootless Podman started from
  # such a session fails ("no cgroup mount found in mountinfo").
  nsenter --net="$(ppt_netns_path "$h")" /usr/sbin/sshd -f "$conf" -E "$PPT_LOG/$h-sshd.log"
  for i in $(seq 1 100); do
    ppt_port_open "$addr" && ppt_sshd_pid "$h" >/dev/null && return 0
    sleep 0.05
  done
  ppt_die "$h: sshd did not start listening on $addr:22 (see $PPT_LOG/$h-sshd.log)"
}

ppt_stop_sshd() {
  local h=$1 pid i
  pid=$(ppt_sshd_pid "$h") || { rm -f "$PPT_RUN/$h-sshd.pid"; return 0; }
  kill "$pid" 2>/dev/null || true
  for i in $(seq 1 100); do
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.05
  done
  kill -KILL "$pid" 2>/dev/null || true
  rm -f "$PPT_RUN/$h-sshd.pid"
}

ppt_new_host_key() {
  local dir=$PPT_ETC/$1
  mkdir -p "$dir"
  rm -f "$dir/ssh_host_ed25519_key" "$dir/ssh_host_ed25519_key.pub"
  ssh-keygen -q -t ed25519 -N '' -C "podploy-test-$1" -f "$dir/ssh_host_ed25519_key"
}

# Ends every process of USER (the agent, its supervisor, Podman's pause process, conmon...).
ppt_kill_user() {
  local u=$1 i uids
  # The user and its subordinate ids: a rootless container's non-root processes (e.g. postgres
  # as uid 999) run as one of those and would outlive the user's own processes.
  uids=$(ppt_uids_of "$u")
  # Up to 10 s: killed processes linger until PID 1 reaps them, which can take a second here.
  for i in $(seq 1 200); do
    pgrep -u "$uids" >/dev/null || return 0
    pkill -KILL -u "$uids" 2>/dev/null || true
    sleep 0.05
  done
  ppt_die "processes of $u survive SIGKILL: $(pgrep -a -u "$uids" | head -5 | tr '\n' ';')"
}

# The user's uid and every uid in use by a process within its /etc/subuid range, comma-separated.
ppt_uids_of() {
  local u=$1 start count
  read -r start count < <(awk -F: -v u="$u" '$1 == u { print $2, $3 }' /etc/subuid)
  { id -u "$u"; [[ -n $start ]] && ps -eo uid= | awk -v s="$start" -v c="$count" '$1 >= s && $1 < s + c' | sort -u; } | paste -sd, -
}

# Runs Podman as USER from the root shell, in a clean login-like environment.
ppt_podman_as() {
  local u=$1 home
  shift
  home=$(getent passwd "$u" | cut -d: -f6)
  (cd / && runuser -u "$u" -- env -i HOME="$home" USER="$u" LOGNAME="$u" \
    PATH=/usr/local/bin:/usr/bin:/bin /usr/bin/podman "$@")
}
