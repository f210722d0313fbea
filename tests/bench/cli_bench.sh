#!/usr/bin/env bash
# How fast the CLI answers: `streamgate status` and `streamgate health` against a running daemon,
# beside bench_zmq_min (the least a C++ program can do for the same answer: one DEALER socket, one
# request, one reply) and /bin/true (the cost of starting any process). hyperfine, no shell,
# the commands interleaved round by round so that a busy moment hits them all alike.
#   tests/bench/cli_bench.sh BUILD_BIN_DIR [ROUNDS] [RUNS_PER_ROUND]
set -euo pipefail
bin=${1:?usage: cli_bench.sh BUILD_BIN_DIR [ROUNDS] [RUNS_PER_ROUND]}
rounds=${2:-3}
runs=${3:-200}
work=$(mktemp -d)
cleanup() {
  XDG_RUNTIME_DIR=$work "$bin/streamgate" stop >/dev/null 2>&1 || true
  rm -rf "$work"
}
trap cleanup EXIT
export XDG_RUNTIME_DIR=$work
"$bin/streamgate" start >/dev/null
endpoint="ipc://$work/streamgate/control.sock"
# health exits 0 only once every plugin reports healthy; wait for that (30 s at most).
for _ in $(seq 300); do "$bin/streamgate" health >/dev/null 2>&1 && break; sleep 0.1; done
"$bin/streamgate" health >/dev/null || { echo "the daemon is not healthy:"; "$bin/streamgate" health; exit 1; }

for round in $(seq "$rounds"); do
  hyperfine -N --warmup 20 --runs "$runs" --export-json "$work/round$round.json" \
    "$bin/streamgate status" "$bin/bench_zmq_min $endpoint status" \
    "$bin/streamgate health" "$bin/bench_zmq_min $endpoint health" /bin/true >/dev/null 2>"$work/hyperfine.err" ||
    { cat "$work/hyperfine.err"; exit 1; }
done
echo "shared libraries loaded: streamgate $(ldd "$bin/streamgate" | wc -l)," \
  "bench_zmq_min $(ldd "$bin/bench_zmq_min" | wc -l), /bin/true $(ldd /bin/true | wc -l)"
python3 - "$work" "$rounds" "$runs" <<'PY'
import json, statistics, sys
work, rounds, runs = sys.argv[1], int(sys.argv[2]), sys.argv[3]
def name(command):
    parts = command.split()
    tool = parts[0].split("/")[-1]
    return f"{tool} {parts[-1]}" if tool != "true" else "/bin/true"
medians = {}
for r in range(1, rounds + 1):
    for x in json.load(open(f"{work}/round{r}.json"))["results"]:
        medians.setdefault(name(x["command"]), []).append(x["median"] * 1000)
m = {k: statistics.median(v) for k, v in medians.items()}
print(f"control commands, hyperfine -N, median of {rounds} rounds of {runs} runs each (ms)")
for cmd in ("status", "health"):
    ours, floor = m[f"streamgate {cmd}"], m[f"bench_zmq_min {cmd}"]
    print(f"  streamgate {cmd:<7} {ours:6.2f}   bench_zmq_min {floor:6.2f}   ratio {ours/floor:4.2f}"
          f"   ratio to /bin/true ({m['/bin/true']:.2f}) {ours/m['/bin/true']:5.2f}")
print(f"  bench_zmq_min itself is {m['bench_zmq_min status']/m['/bin/true']:.2f}x /bin/true")
PY
