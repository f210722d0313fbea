#!/usr/bin/env bash
# Runs a command under the restrictions of streamgated.service that this machine can apply without
# systemd, each set up the way systemd sets it up, so that a test can start the daemon under them:
#
#   --user USER:GROUP      User=, Group=: setpriv to that user, supplementary groups cleared, with
#                          no_new_privs (NoNewPrivileges=) and no capability left in any set
#                          (CapabilityBoundingSet=, AmbientCapabilities=); umask 0077 (UMask=)
#   --mount-view           a private mount namespace (unshare) in which the file system is
#                          read-only but for $XDG_RUNTIME_DIR (ProtectSystem=strict), /home, /root
#                          and /run/user are empty (ProtectHome=), /tmp and /var/tmp are fresh
#                          (PrivateTmp=), /dev holds only null, zero, full, random, urandom and
#                          tty (PrivateDevices=), and /proc shows only our own processes and no
#                          system files (ProtectProc=invisible, ProcSubset=pid)
#   --seccomp UNIT HELPER  the unit's SystemCallFilter= lines, expanded by systemd-analyze, and the
#                          other seccomp settings, applied by HELPER (seccomp_exec)
#
# $XDG_RUNTIME_DIR (the test's folder) and $NOTIFY_SOCKET are given to the user first.
#
# Usage: sandbox.sh [--user U:G] [--mount-view] [--seccomp UNIT HELPER] -- COMMAND [ARG...]
#        sandbox.sh --probe-mount-view      exits 0 when unshare may make a mount namespace here
# Exits 2 when it cannot set up what it was asked for; else it becomes COMMAND.
set -euo pipefail

die() {
  echo "sandbox.sh: $*" >&2
  exit 2
}

if [[ ${1:-} == --probe-mount-view ]]; then
  exec unshare --mount --propagation private -- true
fi

user="" mount_view=0 unit="" helper=""
while (($#)); do
  case $1 in
    --user) user=$2; shift 2 ;;
    --mount-view) mount_view=1; shift ;;
    --seccomp) unit=$2 helper=$3; shift 3 ;;
    --) shift; break ;;
    *) die "unknown option $1" ;;
  esac
done
(($#)) || die "no command"

# The unit's system call allow list, in the order systemd reads it: a line without ~ adds, a line
# with ~ takes away; @groups are expanded with systemd's own tables.
allow_list() {
  local unit=$1
  declare -A groups=()
  local group="" line
  while IFS= read -r line; do
    if [[ $line == @* ]]; then
      group=$line
      groups[$group]=""
    elif [[ -n $group && $line =~ ^[[:space:]]+([^#[:space:]][^[:space:]]*) ]]; then
      groups[$group]+=" ${BASH_REMATCH[1]}"
    fi
  done < <(systemd-analyze syscall-filter --no-pager 2>/dev/null)
  ((${#groups[@]} > 10)) || die "systemd-analyze syscall-filter listed no groups"

  declare -A set=()
  local names=()
  expand() { # expand NAME: appends every system call it stands for to names
    local item
    if [[ $1 == @* ]]; then
      [[ -v groups[$1] ]] || die "unknown system call group $1"
      for item in ${groups[$1]}; do expand "$item"; done
    else
      names+=("$1")
    fi
  }
  local value sign name item seen=0
  while IFS= read -r value; do
    sign=+
    if [[ $value == ~* ]]; then sign=- value=${value#\~}; fi
    [[ $seen == 1 || $sign == + ]] || die "$unit: a deny list first is not what this script models"
    seen=1
    names=()
    for item in $value; do expand "$item"; done
    for name in "${names[@]}"; do
      if [[ $sign == + ]]; then set[$name]=1; else unset "set[$name]"; fi
    done
  done < <(sed -n 's/^SystemCallFilter=//p' "$unit")
  [[ $seen == 1 ]] || die "$unit has no SystemCallFilter="
  printf '%s\n' "${!set[@]}" | sort
}

# Given to the user: the folder the daemon will use, and the socket it reports readiness on.
if [[ -n $user ]]; then
  owner=${user/:/ }
  read -r uid_name gid_name <<<"$owner"
  [[ -n ${XDG_RUNTIME_DIR:-} ]] || die "--user needs XDG_RUNTIME_DIR, the folder to hand over"
  chown "$uid_name:$gid_name" "$XDG_RUNTIME_DIR"
  [[ -z ${NOTIFY_SOCKET:-} ]] || chown "$uid_name:$gid_name" "$NOTIFY_SOCKET"
fi

command=("$@")
if [[ -n $unit ]]; then
  [[ -x $helper ]] || die "no seccomp helper at $helper"
  list=${XDG_RUNTIME_DIR:?--seccomp needs XDG_RUNTIME_DIR, where the allow list is written}
  list+=/syscalls.allow
  allow_list "$unit" >"$list"
  chmod 0644 "$list"
  command=("$helper" "$list" "${command[@]}")
fi
if [[ -n $user ]]; then
  command=(setpriv --reuid="$uid_name" --regid="$gid_name" --clear-groups --no-new-privs
           --inh-caps=-all --ambient-caps=-all --bounding-set=-all -- "${command[@]}")
fi
if ((!mount_view)); then
  umask 0077
  exec "${command[@]}"
fi

# In a new mount namespace, as root still: the view systemd gives the service, then the command.
keep=${XDG_RUNTIME_DIR:?--mount-view needs XDG_RUNTIME_DIR, the one folder left writable}
# Programs the command runs from a checkout under /tmp (CI clones anywhere) stay visible, read
# only, once /tmp is replaced: the top folder under /tmp of every such path in the command.
shown=()
for arg in "${command[@]}"; do
  if [[ $arg =~ ^(/tmp/[^/]+|/var/tmp/[^/]+)/ && -e $arg ]]; then
    top=${BASH_REMATCH[1]}
    [[ $top == "$keep" || $keep == "$top"/* || " ${shown[*]} " == *" $top "* ]] || shown+=("$top")
  fi
done
export SANDBOX_SHOWN="${shown[*]}"
# shellcheck disable=SC2016 # expanded by the inner shell
exec unshare --mount --propagation private -- bash -euc '
keep=$1; shift
# ProtectSystem=strict: every mount read-only (deepest last is fine: each is its own mount).
while read -r _ _ _ _ point _; do
  point=$(printf "%b" "${point//\\/\\x5c}")  # mountinfo escapes spaces as \040
  case $point in /proc|/proc/*|/dev|/dev/*) continue ;; esac
  mount -o remount,bind,ro -- "$point" 2>/dev/null || true
done < /proc/self/mountinfo
# Keep a handle on the test folder, and on the checkout the programs come from, both hidden
# below once /tmp is replaced.
exec 3<"$keep"
fd=10
for dir in $SANDBOX_SHOWN; do eval "exec $fd<\"\$dir\""; fd=$((fd + 1)); done
# PrivateTmp=
for t in /tmp /var/tmp; do mount -t tmpfs -o mode=1777,nosuid,nodev tmpfs "$t"; done
mkdir -p "$keep"
mount --bind --no-canonicalize /proc/self/fd/3 "$keep"
mount -o remount,bind,rw -- "$keep"
exec 3<&-
fd=10
for dir in $SANDBOX_SHOWN; do
  mkdir -p "$dir"
  mount --bind --no-canonicalize "/proc/self/fd/$fd" "$dir"
  mount -o remount,bind,ro -- "$dir"
  eval "exec $fd<&-"
  fd=$((fd + 1))
done
# ProtectHome=yes: empty and unreachable.
for h in /home /root /run/user; do
  [[ -d $h ]] && mount -t tmpfs -o mode=0000,nosuid,nodev,noexec tmpfs "$h"
done
# PrivateDevices=yes: a /dev of pseudo devices only.
mount -t tmpfs -o mode=0755,nosuid,noexec tmpfs /dev
for spec in null:1:3 zero:1:5 full:1:7 random:1:8 urandom:1:9 tty:5:0; do
  IFS=: read -r name major minor <<<"$spec"
  mknod -m 0666 "/dev/$name" c "$major" "$minor"
done
ln -s /proc/self/fd /dev/fd
ln -s /proc/self/fd/0 /dev/stdin
ln -s /proc/self/fd/1 /dev/stdout
ln -s /proc/self/fd/2 /dev/stderr
mkdir /dev/shm && mount -t tmpfs -o mode=1777,nosuid,nodev,noexec tmpfs /dev/shm
mount -o remount,bind,ro /dev
# ProtectProc=invisible, ProcSubset=pid: a /proc of our own processes, no /proc/sys or /proc/stat.
mount -t proc -o nosuid,nodev,noexec,hidepid=invisible,subset=pid proc /proc
# The view must hold before the command runs.
if touch /usr/.sandbox-probe 2>/dev/null; then echo "sandbox.sh: /usr is writable" >&2; exit 2; fi
[[ ! -e /proc/stat ]] || { echo "sandbox.sh: /proc/stat is visible" >&2; exit 2; }
umask 0077
exec "$@"
' sandbox "$keep" "${command[@]}"
