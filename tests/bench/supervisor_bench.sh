#!/usr/bin/env bash
# streamgate status/health beside supervisorctl status (supervisord running three programs),
# timed by hyperfine back to back on this machine; prints medians and ratios.
#   tests/bench/supervisor_bench.sh BUILD_BIN_DIR
set -euo pipefail
bin=${1:?usage: supervisor_bench.sh BUILD_BIN_DIR}
work=$(mktemp -d)
cleanup() {
  XDG_RUNTIME_DIR=$work "$bin/streamgate" stop >/dev/null 2>&1 || true
  [[ -f $work/supervisord.pid ]] && kill "$(cat "$work/supervisord.pid")" 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT

cat >"$work/supervisord.conf" <<CONF
[unix_http_server]
file=$work/supervisor.sock
[supervisord]
pidfile=$work/supervisord.pid
logfile=$work/supervisord.log
nodaemon=false
[rpcinterface:supervisor]
supervisor.rpcinterface_factory = supervisor.rpcinterface:make_main_rpcinterface
[supervisorctl]
serverurl=unix://$work/supervisor.sock
[program:one]
command=sleep 100000
[program:two]
command=sleep 100000
[program:three]
command=sleep 100000
CONF
supervisord -c "$work/supervisord.conf"
export XDG_RUNTIME_DIR=$work
"$bin/streamgate" start >/dev/null
for _ in $(seq 100); do
  supervisorctl -c "$work/supervisord.conf" status 2>/dev/null | grep -c RUNNING | grep -q 3 && break
  sleep 0.1
done

hyperfine -N --warmup 10 --runs 100 --export-json "$work/h.json" \
  "$bin/streamgate status" "$bin/streamgate health" \
  "supervisorctl -c $work/supervisord.conf status" >/dev/null
python3 - "$work/h.json" <<'PY'
import json, sys
r = {x["command"].split("/")[-1] if "streamgate" in x["command"] else "supervisorctl status": x for x in json.load(open(sys.argv[1]))["results"]}
sup = r["supervisorctl status"]["median"]
print("control commands, hyperfine median over 100 runs (-N, no shell)")
for name in ("streamgate status", "streamgate health", "supervisorctl status"):
    m = r[name]["median"] * 1000
    print(f"  {name:<22} median {m:7.2f} ms   ratio to supervisorctl {r[name]['median']/sup:5.3f}")
PY
