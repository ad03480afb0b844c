#!/usr/bin/env bash
# Gives test host hN a new host key and restarts its sshd: "the server was reinstalled", for the
# changed-host-key test. Open sessions stay; new connections see the new key. Run as root.
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=lib.sh
source "$here/lib.sh"
ppt_require_root
ppt_lock
h=${1:?usage: restart-sshd.sh hN}
ppt_is_host "$h" || ppt_die "restart-sshd.sh: no test host $h (${PPT_HOSTS[*]})"
[[ -s $PPT_ETC/$h/sshd_config ]] || ppt_die "restart-sshd.sh: $h is not set up: run test/hosts/setup.sh"
ppt_stop_sshd "$h"
ppt_new_host_key "$h"
ppt_start_sshd "$h"
echo "test hosts: $h has a new host key: $(ssh-keygen -lf "$PPT_ETC/$h/ssh_host_ed25519_key.pub" | cut -d' ' -f2)"
