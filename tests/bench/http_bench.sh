#!/usr/bin/env bash
# wrk against GET /health on streamgated and on nginx (Debian's, `return 200` with the same JSON
# body, worker processes equal to our I/O threads), with access logs off and on (both sides
# writing to a file), the four runs alternating round by round so that a busy moment hits all
# alike. Prints req/s, p50 and p99, the ratios, what the access log costs each server, and RSS:
# ours (one process) beside nginx's master and workers together, idle and after the load.
#   tests/bench/http_bench.sh BUILD_BIN_DIR [THREADS] [CONNECTIONS] [SECONDS] [ROUNDS]
set -euo pipefail
bin=${1:?usage: http_bench.sh BUILD_BIN_DIR [THREADS] [CONNECTIONS] [SECONDS] [ROUNDS]}
threads=${2:-$(nproc)}
connections=${3:-64}
seconds=${4:-8}
rounds=${5:-2}
our_port=18080
nginx_port=18081  # access log off; on is the next port
work=$(mktemp -d)
cleanup() {
  XDG_RUNTIME_DIR=$work "$bin/streamgate" stop >/dev/null 2>&1 || true
  [[ -f $work/nginx.pid ]] && kill "$(cat "$work/nginx.pid")" 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT

cat >"$work/nginx.conf" <<CONF
worker_processes $threads;
pid $work/nginx.pid;
error_log $work/nginx-error.log;
events { worker_connections 4096; }
http {
  server {
    listen 127.0.0.1:$nginx_port reuseport;
    access_log off;
    location = /health { default_type application/json; return 200 '{"status":"healthy"}'; }
  }
  server {
    listen 127.0.0.1:$((nginx_port + 1)) reuseport;
    access_log $work/nginx-access.log;
    location = /health { default_type application/json; return 200 '{"status":"healthy"}'; }
  }
}
CONF
nginx -c "$work/nginx.conf" -p "$work"
export XDG_RUNTIME_DIR=$work
cat >"$work/sg.yaml" <<CONF
server:
  host: 127.0.0.1
  port: $our_port
  io_threads: $threads
  access_log: true
logging:
  file: $work/streamgated.log
CONF
"$bin/streamgate" --config "$work/sg.yaml" start --log-file "$work/stderr.log" >/dev/null
curl -sf "http://127.0.0.1:$our_port/health" >/dev/null
curl -sf "http://127.0.0.1:$nginx_port/health" >/dev/null
our_pid=$(cat "$work/streamgate/streamgated.pid")
nginx_pids() { echo "$(cat "$work/nginx.pid") $(pgrep -P "$(cat "$work/nginx.pid")" | tr '\n' ' ')"; }
rss_kib() { local total=0; for p in "$@"; do total=$((total + $(awk '/VmRSS/ {print $2}' "/proc/$p/status"))); done; echo "$total"; }
idle_ours=$(rss_kib "$our_pid")
# shellcheck disable=SC2046
idle_nginx=$(rss_kib $(nginx_pids))

# User and system CPU ticks of every thread of the given processes.
ticks() {
  local user=0 sys=0 task
  for p in "$@"; do
    for task in /proc/"$p"/task/*; do
      read -r -a f <"$task/stat"
      user=$((user + f[13])) sys=$((sys + f[14]))
    done
  done
  echo "$user $sys"
}
# name url pid... -> "req/s p50_ms p99_ms user_us sys_us": wrk's figures, and the server's CPU per
# request (steadier than req/s on a busy machine, where wrk and the server share the cores).
run() {
  local name=$1 url=$2
  shift 2
  read -r user0 sys0 < <(ticks "$@")
  wrk -t "$threads" -c "$connections" -d "${seconds}s" --latency "$url" >"$work/$name.txt"
  read -r user1 sys1 < <(ticks "$@")
  python3 - "$work/$name.txt" $((user1 - user0)) $((sys1 - sys0)) "$(getconf CLK_TCK)" <<'PY'
import re, sys
text = open(sys.argv[1]).read()
def ms(v):
    m = re.match(r"([\d.]+)([a-z]+)", v)
    if m is None:
        sys.exit(f"unexpected latency {v!r} in wrk output:\n{text}")
    n, unit = m.groups()
    return float(n) * {"us": 0.001, "ms": 1, "s": 1000}[unit]
rps = float(re.search(r"Requests/sec:\s+([\d.]+)", text).group(1))
if "Non-2xx" in text or "Socket errors" in text:
    sys.exit(f"errors in the run:\n{text}")
p50 = ms(re.search(r"^\s*50%\s+(\S+)", text, re.M).group(1))
p99 = ms(re.search(r"^\s*99%\s+(\S+)", text, re.M).group(1))
done = int(re.search(r"(\d+) requests in", text).group(1))
user, sys_, hz = (int(x) for x in sys.argv[2:5])
print(f"{rps:.0f} {p50:.3f} {p99:.3f} {user / hz * 1e6 / done:.2f} {sys_ / hz * 1e6 / done:.2f}")
PY
}

: >"$work/results"
for round in $(seq "$rounds"); do
  for log in off on; do
    # Ours switches at run time: the access component's level decides whether lines are written.
    "$bin/streamgate" log-level "$([[ $log == off ]] && echo warn || echo info)" --plugin access \
      >/dev/null
    nginx_url="http://127.0.0.1:$([[ $log == off ]] && echo "$nginx_port" || echo $((nginx_port + 1)))/health"
    # shellcheck disable=SC2046
    n=$(run nginx "$nginx_url" $(nginx_pids)) &&
      s=$(run streamgate "http://127.0.0.1:$our_port/health" "$our_pid") || exit 1
    printf 'nginx %s %s\nstreamgate %s %s\n' "$log" "$n" "$log" "$s" >>"$work/results"
  done
done
load_ours=$(rss_kib "$our_pid")
# shellcheck disable=SC2046
load_nginx=$(rss_kib $(nginx_pids))
grep -q 'access.*request.*path=/health' "$work/streamgated.log" ||
  { echo "streamgated wrote no access line to its log file"; exit 1; }

python3 - "$work/results" "$threads" "$connections" "$seconds" "$rounds" \
  "$idle_ours" "$idle_nginx" "$load_ours" "$load_nginx" <<'PY'
import statistics, sys
path, t, c, d, rounds = sys.argv[1:6]
idle_ours, idle_nginx, load_ours, load_nginx = (int(x) / 1024 for x in sys.argv[6:10])
runs = {}
for line in open(path):
    server, log, *figures = line.split()
    runs.setdefault((server, log), []).append(tuple(float(x) for x in figures))
def med(server, log, i):
    return statistics.median(r[i] for r in runs[(server, log)])
print(f"GET /health, wrk -t{t} -c{c} -d{d}s, {rounds} rounds alternating, medians;"
      f" both servers {t} workers")
print(f"  {'access log':<11} {'server':<12} {'req/s':>9} {'p50 ms':>8} {'p99 ms':>8}"
      f" {'CPU us/request: user':>21} {'system':>7}")
for log in ("off", "on"):
    for server in ("nginx", "streamgate"):
        print(f"  {log:<11} {server:<12} {med(server, log, 0):9.0f} {med(server, log, 1):8.3f}"
              f" {med(server, log, 2):8.3f} {med(server, log, 3):21.2f} {med(server, log, 4):7.2f}")
    ratios = [med("streamgate", log, i) / med("nginx", log, i) for i in range(5)]
    print(f"  {log:<11} {'ratio':<12} {ratios[0]:9.2f} {ratios[1]:8.2f} {ratios[2]:8.2f}"
          f" {ratios[3]:21.2f} {ratios[4]:7.2f}   (req/s: higher is better; the rest: lower)")
for server in ("nginx", "streamgate"):
    cost = 1 - med(server, "on", 0) / med(server, "off", 0)
    print(f"  the access log costs {server} {cost * 100:5.1f}% of its req/s")
print(f"  RSS idle:       streamgated {idle_ours:5.1f} MiB, nginx master+workers {idle_nginx:5.1f} MiB"
      f" (ratio {idle_ours / idle_nginx:.2f})")
print(f"  RSS after load: streamgated {load_ours:5.1f} MiB, nginx master+workers {load_nginx:5.1f} MiB"
      f" (ratio {load_ours / load_nginx:.2f})")
PY
