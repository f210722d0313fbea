#!/usr/bin/env bash
# The installed streamgated.service, checked by systemd's own tools, as installed by
# `cmake --install` into a scratch prefix:
#
#   - `systemd-analyze verify` has nothing to say about it (a misspelt setting is only a warning
#     there, so any output fails);
#   - `systemd-analyze security --offline=true` rates its exposure at most 1.5 (Debian's
#     redis-server.service: 1.2); the score is printed, with those of the nginx and redis-server
#     units when installed, for comparison;
#   - the sysusers.d entry it names makes the user it runs as (systemd-sysusers into a scratch
#     root), with no login shell;
#   - the folders systemd makes for it are where the built-in defaults point: storage.path under
#     StateDirectory=, the runtime directory root's `streamgate` looks in;
#   - programs stay executable (no NoExecPaths=), for the transcoder's ffmpeg.
#
# Usage: unit_test.sh BUILD_DIR
# Prints a line per check; exits 0 when all passed, 1 when one failed, 2 when it could not run,
# 77 (skipped) without systemd-analyze.
set -uo pipefail

if (($# != 1)); then
  echo "usage: $0 BUILD_DIR" >&2
  exit 2
fi
build=$(cd -- "$1" && pwd) || exit 2
max_exposure=1.5
if ! command -v systemd-analyze >/dev/null; then
  echo "unit_test: systemd-analyze is not installed (Debian package systemd): skipped"
  exit 77
fi

work=$(mktemp -d "${TMPDIR:-/tmp}/streamgate-unit.XXXXXX") || exit 2
trap 'rm -rf -- "$work"' EXIT
prefix=$work/prefix
if ! out=$(cmake --install "$build" --prefix "$prefix" 2>&1); then
  echo "unit_test: cmake --install failed:" >&2
  echo "$out" >&2
  exit 2
fi
unit=$prefix/lib/systemd/system/streamgated.service
sysusers=$prefix/lib/sysusers.d/streamgate.conf
[[ -f $unit && -f $sysusers ]] || { echo "unit_test: $unit or $sysusers not installed" >&2; exit 2; }

# shellcheck source=tests/support/check.sh
source "$(dirname -- "${BASH_SOURCE[0]}")/../support/check.sh"
setting() { sed -n "s/^$1=//p" "$unit"; } # every value of a setting, one a line

check "ExecStart= is the installed streamgated" \
  test "$(setting ExecStart)" = "$prefix/bin/streamgated" -a -x "$prefix/bin/streamgated"

verify=$(systemd-analyze verify --man=no "$unit" 2>&1)
rc=$?
[[ -z $verify ]] || echo "$verify" >&2
check "systemd-analyze verify: no error, no warning" test "$rc" -eq 0 -a -z "$verify"

# The exposure of a unit file, as "1.2", or "" when systemd-analyze rates none.
exposure() {
  systemd-analyze security --offline=true --no-pager "$1" 2>/dev/null |
    sed -n 's/.*Overall exposure level for [^:]*: \([0-9.]*\).*/\1/p'
}
score=$(exposure "$unit")
echo "streamgated.service exposure: ${score:-none} (at most $max_exposure)"
systemd-analyze security --offline=true --no-pager "$unit" 2>/dev/null | grep '✗' || true
check "systemd-analyze security: exposure at most $max_exposure" \
  awk -v s="$score" -v max="$max_exposure" 'BEGIN { exit !(s != "" && s + 0 <= max + 0) }'
for other in nginx redis-server nats-server; do
  file=/lib/systemd/system/$other.service
  [[ -f $file ]] && echo "for comparison, $other.service exposure: $(exposure "$file")"
done

user=$(setting User)
check "User= is set, to an unprivileged name" test -n "$user" -a "$user" != root
mkdir -p "$work/root/etc"
sysusers_out=$(systemd-sysusers --root="$work/root" "$sysusers" 2>&1)
check "$(basename "$sysusers") makes user $user, with no login shell: $sysusers_out" \
  grep -q "^$user:x:[0-9]*:[0-9]*:[^:]*:/var/lib/streamgate:/usr/sbin/nologin\$" \
  "$work/root/etc/passwd"
check "Group= is the group sysusers makes" grep -q "^$(setting Group):x:" "$work/root/etc/group"

# The folders: /var/lib/NAME, /run/NAME, and the defaults that must point into them.
check "StateDirectory=, CacheDirectory=, LogsDirectory=, RuntimeDirectory= are streamgate" \
  test "$(setting StateDirectory)$(setting CacheDirectory)$(setting LogsDirectory)$(setting RuntimeDirectory)" \
  = streamgatestreamgatestreamgatestreamgate
storage=$(env -i HOME="$work" XDG_CONFIG_HOME="$work" "$prefix/bin/streamgate" config show --json \
  "$prefix/etc/streamgate/streamgate.yaml" | grep -A1 '"storage.path"' |
  sed -n 's/^ *"value": "\([^"]*\)",$/\1/p')
check "storage.path ($storage) of the installed configuration is in the StateDirectory" \
  test -n "$storage" -a "${storage#/var/lib/streamgate/}" != "$storage"
if ((EUID == 0)); then
  check "root's streamgate looks for the socket in the RuntimeDirectory, /run/streamgate" \
    grep -q /run/streamgate/control.sock <(env -i HOME="$work" "$prefix/bin/streamgate" status 2>&1)
fi
check "STREAMGATE_CONFIG names the installed configuration" \
  grep -qx "STREAMGATE_CONFIG=$prefix/etc/streamgate/streamgate.yaml" <(setting Environment)
check "no NoExecPaths=: the transcoder may run /usr/bin/ffmpeg" \
  test -z "$(setting NoExecPaths)$(setting ExecPaths)"

echo "unit_test: $passed passed, $failed failed"
((failed == 0))
