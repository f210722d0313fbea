#!/usr/bin/env bash
# The commands the README shows a user typing, run against the built programs, with what the
# README says they do. The command lines are read out of the README, so that it cannot drift:
#
#   - every line of the Usage block names a streamgate command that exists, with options it takes,
#     and the options every command takes are in `streamgate --help`;
#   - `streamgate start` detaches and prints where the daemon listens; `status`, `health` and
#     `stop` then work, /health answers at the URL printed, and the daemon is gone after `stop`;
#   - the `config validate bad.yaml` example prints exactly what the README shows (a line ending
#     in "..." is a prefix) and exits 78; the shipped config/streamgate.yaml is valid.
#
# Usage: commands_test.sh SOURCE_DIR BIN_DIR
# The daemon runs on loopback, on free ports, with a private runtime directory, and is stopped at
# the end. Prints a line per check; exits 0 when all passed, 1 when one failed, 2 when it could not
# run.
set -uo pipefail

if (($# != 2)); then
  echo "usage: $0 SOURCE_DIR BIN_DIR" >&2
  exit 2
fi
src=$(cd -- "$1" && pwd) || exit 2
bin=$(cd -- "$2" && pwd) || exit 2
readme=$src/README.md
for prog in streamgate streamgated; do
  [[ -x $bin/$prog ]] || { echo "commands_test: no $bin/$prog" >&2; exit 2; }
done

work=$(mktemp -d "${TMPDIR:-/tmp}/streamgate-readme.XXXXXX") || exit 2
cleanup() {
  # A daemon left by a failed check: stop it, then make sure.
  if [[ -S $work/run/streamgate/control.sock ]]; then
    "$bin/streamgate" stop --timeout 20 --force >/dev/null 2>&1
  fi
  rm -rf -- "$work"
}
trap cleanup EXIT

while IFS= read -r var; do unset "$var"; done < <(compgen -e | grep -E '^(STREAMGATE_|NOTIFY_SOCKET$)')
export XDG_RUNTIME_DIR=$work/run XDG_CONFIG_HOME=$work/config
mkdir -m 0700 "$XDG_RUNTIME_DIR"
export PATH=$bin:$PATH # the README's commands say `streamgate`, as after an install

# shellcheck source=tests/support/check.sh
source "$src/tests/support/check.sh"

# The first code block after the line that starts with $1.
block_after() {
  awk -v anchor="$1" '
    index($0, anchor) == 1 { found = 1 }
    found && /^```/ { if (in_block) exit; in_block = 1; next }
    in_block { print }' "$readme"
}

# --- The Usage block: each line's command exists and takes the options shown.
mapfile -t usage < <(block_after "## Usage" | sed 's/[ \t]*#.*//' | grep .)
check "the Usage block lists commands (${#usage[@]})" test "${#usage[@]}" -ge 8
for line in "${usage[@]}"; do
  read -r -a words <<<"$line"
  [[ ${words[0]} == streamgate ]] || { check "'$line' starts with streamgate" false; continue; }
  sub=${words[1]}
  help=$(streamgate "$sub" --help 2>&1) || { check "streamgate $sub exists" false; continue; }
  # The subcommands on the line ("plugins list | start | ..."): their options count too.
  # A group's subcommands go one level further ("auth keys create"): theirs count too.
  prev=""
  for w in "${words[@]:2}"; do
    if [[ $w =~ ^[a-z-]+$ ]] && more=$(streamgate "$sub" "$w" --help 2>&1); then help+=$more; fi
    if [[ -n $prev && $w =~ ^[a-z-]+$ ]] && more=$(streamgate "$sub" "$prev" "$w" --help 2>&1); then
      help+=$more
    fi
    [[ $w =~ ^[a-z-]+$ ]] && prev=$w
  done
  missing=()
  for opt in $(grep -oE -- '--[a-z][a-z-]*|(^|[[ ])-[a-z]\b' <<<"$line" | tr -d '[ '); do
    grep -qE -- "(^|[ ,])$opt\b" <<<"$help" || missing+=("$opt")
  done
  check "streamgate $sub takes what the Usage line shows${missing:+ (missing: ${missing[*]})}" \
    test "${#missing[@]}" -eq 0
done
prose=$(tr '\n' ' ' <"$readme" | grep -oE 'Every command takes [^.]*')
top_help=$(streamgate --help 2>&1)
while read -r opt; do
  check "streamgate --help has $opt, which the README says every command takes" \
    grep -qE -- "(^|[ ,])$opt\b" <<<"$top_help"
done < <(grep -oE -- '--[a-z]+' <<<"$prose")

# --- streamgate start, then status, health and stop, as the Usage block shows them.
export STREAMGATE_SERVER_HOST=127.0.0.1 STREAMGATE_SERVER_PORT=0 STREAMGATE_MONITORING_PROMETHEUS_PORT=0
out=$(cd "$work" && streamgate start 2>&1)
rc=$?
echo "$out"
check "streamgate start exits 0" test "$rc" -eq 0
url=$(sed -n 's/^  http: *\(http:[^ ]*\)$/\1/p' <<<"$out")
check "streamgate start prints the HTTP URL with the bound port ($url)" \
  grep -qE '^http://127\.0\.0\.1:[1-9][0-9]*$' <<<"$url"
check "streamgate start prints the metrics URL" grep -qE '^  metrics: +http://127\.0\.0\.1:[1-9][0-9]*/metrics$' <<<"$out"
status=$(streamgate status 2>&1)
rc=$?
check "streamgate status exits 0" test "$rc" -eq 0
check "streamgate status shows HTTP: $url" grep -qE "^ +HTTP: +$url\$" <<<"$status"
json=$(streamgate --json status 2>&1)
check "streamgate --json status has listeners.http" grep -qF "\"http\": \"$url\"" <<<"$json"
body=$(curl -sS --max-time 10 -w ' %{http_code}' "$url/health" 2>&1)
check "GET $url/health answers 200 {\"status\":\"healthy\"}" test "$body" = '{"status":"healthy"} 200'
streamgate health >/dev/null 2>&1
check "streamgate health exits 0" test $? -eq 0
pid=$(sed -n 's/^ *"pid": *\([0-9]*\).*/\1/p' <<<"$json" | head -n 1)
streamgate stop
rc=$?
check "streamgate stop exits 0" test "$rc" -eq 0
gone() { [[ ! -e /proc/$1 ]] || [[ $(sed 's/.*) //' "/proc/$1/stat" 2>/dev/null | cut -d' ' -f1) == Z ]]; }
check "the daemon (pid $pid) is gone after stop" gone "${pid:-0}"
streamgate status >/dev/null 2>&1
check "streamgate status exits 3 once it is stopped" test $? -eq 3
unset STREAMGATE_SERVER_HOST STREAMGATE_SERVER_PORT STREAMGATE_MONITORING_PROMETHEUS_PORT

# --- The config validate example, exactly as shown.
# shellcheck disable=SC2016 # a literal backquote
example=$(block_after '`config validate` reports every problem')
command=$(sed -n '1s/^\$ //p' <<<"$example")
check "the config validate example shows a command ($command)" test "$command" = "streamgate config validate bad.yaml"
# bad.yaml as the example's diagnostics describe it: line 2 has the port at column 9, line 3 a
# misspelt key at column 3.
printf 'server:\n  port: 70000\n  prot: 1\n' >"$work/bad.yaml"
read -r -a argv <<<"$command"
actual=$(cd "$work" && "${argv[@]}" 2>&1)
rc=$?
check "'$command' exits 78" test "$rc" -eq 78
mapfile -t want < <(tail -n +2 <<<"$example")
mapfile -t got <<<"$actual"
check "'$command' prints ${#want[@]} lines, as shown" test "${#got[@]}" -eq "${#want[@]}"
for i in "${!want[@]}"; do
  w=${want[i]}
  g=${got[i]:-}
  if [[ $w == *... ]]; then
    check "line $((i + 1)) starts as shown: ${w%...}" test "${g:0:$((${#w} - 3))}" = "${w%...}"
  else
    check "line $((i + 1)) is as shown: $w" test "$g" = "$w"
  fi
done
[[ $failed -eq 0 ]] || echo "it printed:"$'\n'"$actual" >&2

# The shipped example configuration is valid.
out=$(streamgate config validate "$src/config/streamgate.yaml" 2>&1)
rc=$?
check "streamgate config validate config/streamgate.yaml exits 0" test "$rc" -eq 0
[[ $rc -eq 0 ]] || echo "$out" >&2

echo "README commands: $passed passed, $failed failed"
((failed == 0))
