#!/usr/bin/env bash
# The README's Quick start, as a new user runs it. The commands are read out of the Quick start
# code block, so that the README, the scripts and this test cannot drift apart:
#
#   - the block has exactly two commands, scripts/start.sh and scripts/test.sh, and .ci/run runs
#     the second;
#   - the first runs, exactly as written, in a fresh clone of the tree under test (the working
#     tree's changes copied over, so an uncommitted script is what is tested, and build/ starts
#     empty), in the background, with only the ports overridden (any free port: tests run side by
#     side) and a private runtime directory for the control socket;
#   - once it prints that the daemon is ready, the URL it printed answers /health with 200 and
#     {"status":"healthy"}, and the streamgate it printed, an absolute path, answers `status` with
#     exit 0;
#   - SIGINT to its process group, as Ctrl-C in its terminal sends, stops the daemon gracefully
#     with exit status 0, and nothing it started is left running.
#
# Usage: quickstart_test.sh SOURCE_DIR
# The clone builds its own release binaries (start.sh does): a cold build takes minutes, a build
# with ccache warm well under one. CCACHE_BASEDIR makes the clone's paths hit the same cache
# entries from one run to the next. Exits 0 when every check passed, 1 when one failed, 2 when the
# test could not run, 77 (skipped) when SOURCE_DIR is not a git work tree.
set -uo pipefail

if (($# != 1)); then
  echo "usage: $0 SOURCE_DIR" >&2
  exit 2
fi
src=$(cd -- "$1" && pwd) || exit 2
readme=$src/README.md
ready_seconds=${SG_QUICKSTART_READY_SECONDS:-840} # apt is done by then; this is the build

fail() {
  echo "quickstart_test: FAIL: $*" >&2
  exit 1
}

# The Quick start's code block: its command lines, without comments and blank lines.
mapfile -t commands < <(awk '
  /^## / { in_section = ($0 == "## Quick start") }
  in_section && /^```/ { if (in_block) exit; in_block = 1; next }
  in_block { sub(/[ \t]*#.*/, ""); if (NF) print }' "$readme")
echo "README Quick start commands: ${commands[*]/%/;}"
((${#commands[@]} == 2)) || fail "the Quick start block has ${#commands[@]} commands, not 2"
[[ ${commands[0]} == scripts/start.sh* ]] || fail "the first command is '${commands[0]}'"
[[ ${commands[1]} == scripts/test.sh* ]] || fail "the second command is '${commands[1]}'"
grep -qx "exec ${commands[1]}" "$src/.ci/run" || fail ".ci/run does not run '${commands[1]}'"
# The prose after the block promises what this test checks.
grep -q 'build/release/bin/streamgate' "$readme" || fail "README does not name build/release/bin"
grep -qF '{"status":"healthy"}' "$readme" || fail "README does not show /health's answer"

if ! git -C "$src" rev-parse --is-inside-work-tree >/dev/null 2>&1; then
  echo "quickstart_test: $src is not a git work tree: nothing to clone; skipped"
  exit 77
fi

work=$(mktemp -d "${TMPDIR:-/tmp}/streamgate-quickstart.XXXXXX") || exit 2
pid=
cleanup() {
  if [[ -n $pid ]]; then
    # Whatever the run left in its session (it is the session leader).
    pkill -KILL -s "$pid" 2>/dev/null
    wait "$pid" 2>/dev/null
  fi
  rm -rf -- "$work"
}
trap cleanup EXIT

# A fresh clone of the tree under test: committed files from git, then the working tree's
# modified, deleted and new (not ignored) files over them. build/ is ignored: it starts empty.
clone=$work/clone
git clone -q --no-hardlinks "$src" "$clone" || exit 2
while IFS= read -r -d '' f; do
  if [[ -e $src/$f || -L $src/$f ]]; then
    mkdir -p -- "$clone/$(dirname -- "$f")" && cp -pP -- "$src/$f" "$clone/$f" || exit 2
  else
    rm -f -- "$clone/$f"
  fi
done < <(git -C "$src" ls-files -z --modified --others --exclude-standard)

# The user's environment, less anything that would point the daemon or the CLI elsewhere.
while IFS= read -r var; do unset "$var"; done < <(compgen -e | grep -E '^(STREAMGATE_|NOTIFY_SOCKET$)')
export XDG_RUNTIME_DIR=$work/run XDG_CONFIG_HOME=$work/config
mkdir -m 0700 "$XDG_RUNTIME_DIR"
export CCACHE_BASEDIR=$clone

# The start command as written, in its own session (as in its own terminal), in the background.
log=$work/start.log
read -r -a start <<<"${commands[0]}"
started=$SECONDS
(cd "$clone" && exec setsid "${start[@]}" --set server.port=0 --set monitoring.prometheus_port=0) \
  >"$log" 2>&1 </dev/null &
pid=$!
echo "started '${commands[0]}' in $clone: pid $pid"
# Its session is its pid once setsid has run (setsid does not fork here: the subshell is no
# process group leader); the signal and the check for leftovers below rely on that.
deadline=$((SECONDS + 10))
until [[ $(ps -o sid= -p "$pid" | tr -d ' ') == "$pid" ]]; do
  ((SECONDS < deadline)) || fail "pid $pid did not become a session leader"
  sleep 0.05 # until the subshell has exec'd setsid
done

gone() { # the process has exited (it may be a zombie until waited for)
  [[ ! -e /proc/$1 ]] || [[ $(sed 's/.*) //' "/proc/$1/stat" 2>/dev/null | cut -d' ' -f1) == Z ]]
}
show_log() {
  echo "--- the last 40 lines of its output:" >&2
  tail -n 40 "$log" >&2
}

# Wait until it says it is ready, or it ends, or the deadline passes.
deadline=$((SECONDS + ready_seconds))
until grep -q '^streamgated is ready' "$log"; do
  if gone "$pid"; then
    wait "$pid"
    rc=$?
    show_log
    fail "'${commands[0]}' exited with status $rc before it was ready"
  fi
  if ((SECONDS >= deadline)); then
    show_log
    fail "not ready after ${ready_seconds}s"
  fi
  sleep 0.2 # between looks at its output
done
# The three lines arrive together; wait for the last.
until grep -q '^Ctrl-C here stops it' "$log" || ((SECONDS >= deadline)); do sleep 0.1; done
echo "ready after $((SECONDS - started))s; it printed:"
grep -A2 '^streamgated is ready' "$log"

url=$(sed -n 's/^streamgated is ready (healthy): curl \(http:[^ ]*\/health\)$/\1/p' "$log")
[[ -n $url ]] || { show_log; fail "no 'ready (healthy): curl URL/health' line"; }
[[ $url =~ :([0-9]+)/health$ && ${BASH_REMATCH[1]} != 0 ]] || fail "no bound port in $url"
cli=$(sed -n 's/^In another terminal: \(.*\) status$/\1/p' "$log")
[[ $cli == "$clone/build/release/bin/streamgate" ]] ||
  fail "it printed '$cli' as streamgate, not $clone/build/release/bin/streamgate"

body=$(curl -sS --max-time 10 -o - -w '\n%{http_code}' "$url") || fail "curl $url failed"
[[ $body == $'{"status":"healthy"}\n200' ]] || fail "curl $url answered: $body"
echo "curl $url: 200 {\"status\":\"healthy\"}"

status_out=$("$cli" status 2>&1)
rc=$?
echo "$status_out"
((rc == 0)) || fail "$cli status exited $rc"
[[ $status_out == *"streamgated"*"monolith mode, healthy"* ]] || fail "status does not say healthy"
[[ $status_out == *"HTTP:"*"${url%/health}"* ]] || fail "status does not show ${url%/health}"

# Ctrl-C: SIGINT to the foreground process group of its terminal, that is, its session.
kill -INT -- "-$pid" || fail "cannot signal $pid"
deadline=$((SECONDS + 60))
until gone "$pid"; do
  ((SECONDS < deadline)) || { show_log; fail "still running 60s after SIGINT"; }
  sleep 0.1 # between checks that it has exited
done
wait "$pid"
rc=$?
((rc == 0)) || { show_log; fail "exit status $rc after SIGINT, not 0"; }
grep -q 'StreamGate stopped' "$log" || { show_log; fail "no 'StreamGate stopped' in its log"; }
echo "SIGINT: exit status 0, 'StreamGate stopped'"

# Nothing of its session is left: the readiness watcher ends with the daemon.
deadline=$((SECONDS + 10))
while pgrep -s "$pid" >/dev/null; do
  if ((SECONDS >= deadline)); then
    pgrep -a -s "$pid" >&2
    fail "processes left behind"
  fi
  sleep 0.1 # between looks for leftovers
done
pid=
echo "nothing left running; quickstart: ok"
