#!/usr/bin/env bash
# Installs what is missing, builds the two programs (nothing else), and runs streamgated in the
# foreground in monolith mode. With no configuration file anywhere, the built-in defaults apply.
# Extra arguments go to streamgated, for example:
#   scripts/start.sh --log-format dev --set server.port=8081
# Once the daemon is ready it prints the URL that answers (with the port it bound) and the
# streamgate command to try. Ctrl-C (SIGINT) stops the daemon gracefully; it exits 0.
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/install-deps.sh
export CCACHE_DIR=${CCACHE_DIR:-$HOME/.cache/ccache}
# Paths relative to the checkout, and no working directory in the hash: a fresh clone in another
# folder (as CI makes) hits what an earlier build put in the cache.
export CCACHE_BASEDIR=${CCACHE_BASEDIR:-$PWD}
export CCACHE_NOHASHDIR=${CCACHE_NOHASHDIR:-1}
# A release build of the daemon, the CLI and the web page only: no test or benchmark targets, so
# no test dependencies and the shortest cold build.
cmake --preset release -DSG_BUILD_TESTS=OFF >/dev/null
cmake --build --preset release --target streamgated streamgate web_assets

bin=$PWD/build/release/bin
# The CLI must look for the daemon where it listens: the same configuration file, and the control
# endpoint if one is set on the command line (the environment is shared already).
cli=("$bin/streamgate")
args=("$@")
for ((i = 0; i < ${#args[@]}; i++)); do
  case ${args[i]} in
    -c | --config) cli+=(--config "$(realpath -m -- "${args[i + 1]:-}")") ;;
    --config=*) cli+=(--config "$(realpath -m -- "${args[i]#--config=}")") ;;
    --set) [[ ${args[i + 1]:-} == control.endpoint=* ]] && cli+=(--endpoint "${args[i + 1]#*=}") ;;
    --set=control.endpoint=*) cli+=(--endpoint "${args[i]#--set=control.endpoint=}") ;;
  esac
done

# Once the daemon answers on its control socket (its plugins have started by then), say what to do
# next. The status reply names the URLs with the ports actually bound (no jq needed: the CLI prints
# one key a line). This watcher ends with the daemon: it runs only while this process, which is the
# daemon after the exec below, is alive.
daemon=$$
(
  while kill -0 "$daemon" 2>/dev/null; do
    rc=0
    "${cli[@]}" health --wait --timeout 2 >/dev/null 2>&1 || rc=$?
    ((rc == 3)) && continue # no answer yet
    health=$(case $rc in 0) echo healthy ;; 1) echo degraded ;; *) echo unhealthy ;; esac)
    url=$("${cli[@]}" --json status 2>/dev/null | sed -n 's/^ *"http": *"\([^"]*\)".*/\1/p') || true
    if [[ -n $url ]]; then
      echo "streamgated is ready ($health): curl $url/health"
    else
      echo "streamgated is ready ($health); no HTTP listener (the api-gateway plugin is not running)"
    fi
    echo "In another terminal: $(printf '%q ' "${cli[@]}")status"
    echo "Ctrl-C here stops it."
    exit 0
  done
) &
exec "$bin/streamgated" --mode monolith "$@"
