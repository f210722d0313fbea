#!/usr/bin/env bash
# streamgated.service started by a real systemd where systemd is not PID 1 (a container, the test
# VM): boots a private systemd as PID 1 of new pid, mount, cgroup, network, UTS and IPC
# namespaces, installs the build into an overlay of /usr/local there, and has that systemd start
# the installed streamgated.service as written: its own user made by systemd-sysusers, its
# folders, PrivateUsers=, the seccomp filters and the rest. Then it checks, from inside, that the
# daemon runs as that user with no capability, answers `streamgate status` and /health, reloads
# and stops cleanly, and that `streamgate` run by root finds it; with ffmpeg installed, that ffmpeg
# encodes under the same settings. /etc, /var, /usr/local, /run and /tmp are overlays or tmpfs in
# the namespace, and the network is its own: nothing outside changes but a cgroup, sgns-PID, made
# for it and removed at the end.
#
# It needs root, a cgroup v1 "name=systemd" hierarchy and a cgroup2 one (the hybrid layout of
# this project's machines) and no systemd as PID 1, which it would fight for them; without those,
# or when the private systemd does not come up, it skips.
#
# Usage (as root): systemd_ns.sh BUILD_DIR
# Prints a line per check; exits 0 when all passed, 1 when one failed, 2 on a usage error, 77
# (skipped) when it cannot run here.
set -uo pipefail

if (($# != 1)); then
  echo "usage: $0 BUILD_DIR" >&2
  exit 2
fi
build=$(cd -- "$1" && pwd) || exit 2
here=$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")" && pwd)
skip() {
  echo "systemd_ns: $*: skipped"
  exit 77
}
((EUID == 0)) || skip "not root"
[[ $(cat /proc/1/comm) != systemd ]] || skip "systemd is PID 1 here"
for h in systemd unified; do
  [[ -f /sys/fs/cgroup/$h/cgroup.procs ]] || skip "no cgroup hierarchy at /sys/fs/cgroup/$h"
done
for tool in unshare nsenter ip curl /lib/systemd/systemd systemd-sysusers; do
  command -v "$tool" >/dev/null || skip "no $tool"
done

cgroup=sgns-$$
target=sg-check-$$.target
work=$(mktemp -d) || exit 2
pid1=""
cleanup() {
  if [[ -n $pid1 ]] && kill -0 "$pid1" 2>/dev/null; then
    nsenter -t "$pid1" -a systemctl poweroff >/dev/null 2>&1 || kill -KILL "$pid1"
    for _ in $(seq 100); do kill -0 "$pid1" 2>/dev/null || break; sleep 0.1; done
  fi
  for h in systemd unified; do
    [[ -d /sys/fs/cgroup/$h/$cgroup ]] &&
      find "/sys/fs/cgroup/$h/$cgroup" -depth -type d -exec rmdir {} \; 2>/dev/null
  done
  rm -rf -- "$work"
}
trap cleanup EXIT

# PID 1 of the namespaces: the private system, then systemd with a target that pulls the service in.
cat >"$work/init.sh" <<'EOF'
set -eu
build=$1 # $2: the target to boot into
mount --make-rprivate /
mount -t proc proc /proc
mount -t tmpfs -o mode=755 tmpfs /sys/fs/cgroup
mkdir /sys/fs/cgroup/systemd /sys/fs/cgroup/unified
mount -t cgroup -o none,name=systemd cgroup /sys/fs/cgroup/systemd
mount -t cgroup2 cgroup2 /sys/fs/cgroup/unified
mount -t tmpfs -o mode=755 tmpfs /run
for d in etc var usr/local; do
  n=${d//\//_}
  mkdir -p "/run/ovl/$n-up" "/run/ovl/$n-work"
  mount -t overlay overlay -o "lowerdir=/$d,upperdir=/run/ovl/$n-up,workdir=/run/ovl/$n-work" "/$d"
done
mount -t tmpfs -o mode=1777 tmpfs /tmp
mount -t tmpfs -o mode=1777 tmpfs /var/tmp
ip link set lo up
hostname streamgate-ns
cmake --install "$build" --prefix /usr/local >/dev/null
systemd-sysusers >/dev/null
rm -f /etc/machine-id
systemd-machine-id-setup >/dev/null 2>&1 || true
mkdir -p /etc/systemd/system/streamgated.service.d
printf '[Service]\nEnvironment=STREAMGATE_SERVER_HOST=127.0.0.1\n' \
  >/etc/systemd/system/streamgated.service.d/loopback.conf
printf '[Unit]\nWants=streamgated.service\n' >"/etc/systemd/system/$2"
export container=streamgate-ns
exec /lib/systemd/systemd --unit="$2" --show-status=no
EOF

for h in systemd unified; do
  mkdir "/sys/fs/cgroup/$h/$cgroup" || skip "cannot make a cgroup in /sys/fs/cgroup/$h"
done
(
  for h in systemd unified; do echo "$BASHPID" >"/sys/fs/cgroup/$h/$cgroup/cgroup.procs"; done
  exec unshare --pid --fork --kill-child --mount --uts --ipc --net --cgroup --propagation private \
    bash "$work/init.sh" "$build" "$target" </dev/null >"$work/init.log" 2>&1
) &
for _ in $(seq 100); do
  pid1=$(pgrep -f -n "systemd --unit=$target") && break
  sleep 0.1
done
if [[ -z $pid1 ]]; then
  cat "$work/init.log" >&2
  skip "the private systemd did not start (its log is above)"
fi
in_ns() { nsenter -t "$pid1" -a "$@"; }
state() { in_ns systemctl show -P "$1" streamgated 2>/dev/null; }
for _ in $(seq 300); do
  [[ $(state ActiveState) == active || $(state ActiveState) == failed ]] && break
  sleep 0.1
done

# shellcheck source=tests/support/check.sh
source "$here/../support/check.sh"
check "systemd started streamgated.service (Type=notify: it said READY=1)" \
  test "$(state ActiveState)/$(state SubState)" = active/running
pid=$(state MainPID)
# $pid is the daemon's pid in the namespace: read it there.
status() { in_ns grep "^$1:" "/proc/$pid/status" | cut -f2-; }
uid=$(in_ns id -u streamgate)
check "it runs as the user systemd-sysusers made (uid $uid), not root" \
  test "$(status Uid | cut -f1)" = "$uid" -a "$uid" != 0
check "with no capability, no_new_privs and seccomp filters" \
  test "$(status CapEff)/$(status CapBnd)/$(status NoNewPrivs)/$(status Seccomp)" \
  = 0000000000000000/0000000000000000/1/2
check "in a user namespace that maps root and its own user only (PrivateUsers=)" \
  test "$(in_ns cat "/proc/$pid/uid_map" | awk '{print $1}' | tr '\n' ' ')" = "0 $uid "
# shellcheck disable=SC2016 # expanded by the inner shell
check "its folders exist, its own, mode 0700" \
  in_ns bash -c 'for d in /var/lib/streamgate /var/cache/streamgate /var/log/streamgate /run/streamgate; do
    [[ $(stat -c %U:%a "$d") == streamgate:700 ]] || exit 1; done'
check "root's streamgate finds it and it is healthy" \
  in_ns bash -c '/usr/local/bin/streamgate status | grep -q "monolith mode, healthy"'
check "it serves /health" \
  in_ns bash -c 'curl -sf -m 5 http://127.0.0.1:8080/health | grep -q healthy'
check "it does not warn about root" \
  bash -c "! nsenter -t $pid1 -a journalctl -u streamgated -o cat | grep -q 'Running as root'"
check "systemctl reload applies a reload" \
  in_ns bash -c 'systemctl reload streamgated && journalctl -u streamgated -o cat | grep -q "Configuration reloaded"'
check "/proc/stat is hidden from it (ProcSubset=pid)" \
  bash -c "! nsenter -t $pid1 -a nsenter -t $pid -m test -e /proc/stat"
check "/usr is read-only to it (ProtectSystem=strict)" \
  bash -c "nsenter -t $pid1 -a nsenter -t $pid -m findmnt -no OPTIONS -T /usr | grep -q '^ro,'"
if [[ -x /usr/bin/ffmpeg ]]; then
  in_ns bash -c 'sed -e "s|^Type=notify|Type=oneshot|; /^ExecReload/d; /^Restart=/d;
    s|^ExecStart=.*|ExecStart=/usr/bin/ffmpeg -loglevel error -y -f lavfi -i testsrc=duration=2 -c:v libx264 /var/cache/streamgate/t.mp4|" \
    /usr/local/lib/systemd/system/streamgated.service >/etc/systemd/system/sg-ffmpeg.service &&
    systemctl daemon-reload'
  check "ffmpeg encodes H.264 under the same settings" in_ns systemctl start sg-ffmpeg
else
  echo "skipped: ffmpeg is not installed, so encoding under the unit's settings is not checked"
fi
in_ns systemctl stop streamgated
check "systemctl stop: a clean exit (status 0), /run/streamgate removed" \
  test "$(state ExecMainStatus)/$(in_ns test -e /run/streamgate && echo kept)" = 0/
echo "systemd_ns: $passed passed, $failed failed"
((failed == 0))
