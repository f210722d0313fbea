#!/usr/bin/env bash
# wrk against GET /health on streamgated and on nginx (Debian's, `return 200` with the same JSON
# body, worker processes equal to our I/O threads), same connections and duration, back to back.
# Prints req/s, p50 and p99 latency, and the ratios.
#   tests/bench/http_bench.sh BUILD_BIN_DIR [THREADS] [CONNECTIONS] [SECONDS]
set -euo pipefail
bin=${1:?usage: http_bench.sh BUILD_BIN_DIR [THREADS] [CONNECTIONS] [SECONDS]}
threads=${2:-$(nproc)}
connections=${3:-64}
seconds=${4:-10}
our_port=18080
nginx_port=18081
work=$(mktemp -d)
cleanup() {
  XDG_RUNTIME_DIR=$work "$bin/streamgate" stop >/dev/null 2>&1 || true
  [[ -f $work/nginx.pid ]] && kill "$(cat "$work/nginx.pid")" 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT

# Both log every request to a file, as a production setup would.
cat >"$work/nginx.conf" <<CONF
worker_processes $threads;
pid $work/nginx.pid;
error_log $work/nginx-error.log;
events { worker_connections 4096; }
http {
  access_log $( [[ ${SG_BENCH_ACCESS_LOG:-true} == true ]] && echo "$work/nginx-access.log" || echo off );
  server {
    listen 127.0.0.1:$nginx_port reuseport;
    location = /health {
      default_type application/json;
      return 200 '{"status":"healthy"}';
    }
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
  access_log: ${SG_BENCH_ACCESS_LOG:-true}
logging:
  file: $work/streamgated.log
CONF
"$bin/streamgate" --config "$work/sg.yaml" start --log-file "$work/stderr.log" >/dev/null
curl -sf "http://127.0.0.1:$our_port/health" >/dev/null
curl -sf "http://127.0.0.1:$nginx_port/health" >/dev/null

run() {  # name url -> "req/s p50_ms p99_ms"
  # (wrk prints latencies as 512.00us, 1.20ms or 1.01s)
  wrk -t "$threads" -c "$connections" -d "${seconds}s" --latency "$2" >"$work/$1.txt"
  python3 - "$work/$1.txt" <<'PY'
import re, sys
text = open(sys.argv[1]).read()
def ms(v):
    m = re.match(r"([\d.]+)([a-z]+)", v)
    if m is None:
        sys.exit(f"unexpected latency {v!r} in wrk output:\n{text}")
    n, unit = m.groups()
    return float(n) * {"us": 0.001, "ms": 1, "s": 1000}[unit]
rps = float(re.search(r"Requests/sec:\s+([\d.]+)", text).group(1))
p50 = ms(re.search(r"50%\s+(\S+)", text).group(1))
p99 = ms(re.search(r"99%\s+(\S+)", text).group(1))
print(f"{rps:.0f} {p50:.3f} {p99:.3f}")
PY
}
read -r n_rps n_p50 n_p99 < <(run nginx "http://127.0.0.1:$nginx_port/health")
read -r s_rps s_p50 s_p99 < <(run streamgate "http://127.0.0.1:$our_port/health")
rss=$(awk '/VmRSS/ {print $2}' "/proc/$(cat "$work/streamgate/streamgated.pid")/status")
python3 - "$n_rps" "$n_p50" "$n_p99" "$s_rps" "$s_p50" "$s_p99" "$threads" "$connections" "$seconds" "$rss" "${SG_BENCH_ACCESS_LOG:-true}" <<'PY'
import sys
n_rps, n_p50, n_p99, s_rps, s_p50, s_p99 = map(float, sys.argv[1:7])
t, c, d, rss, access = sys.argv[7:12]
print(f"GET /health, wrk -t{t} -c{c} -d{d}s, both servers {t} workers, access log {access}")
print(f"  {'':12} {'req/s':>10} {'p50 ms':>9} {'p99 ms':>9}")
print(f"  {'nginx':12} {n_rps:10.0f} {n_p50:9.3f} {n_p99:9.3f}")
print(f"  {'streamgated':12} {s_rps:10.0f} {s_p50:9.3f} {s_p99:9.3f}")
print(f"  {'ratio':12} {s_rps/n_rps:10.2f} {s_p50/n_p50:9.2f} {s_p99/n_p99:9.2f}   (req/s: higher is better; latency: lower)")
print(f"  streamgated RSS after the run: {int(rss)/1024:.1f} MiB")
PY
