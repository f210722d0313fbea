#!/usr/bin/env bash
# Builds a release and runs every benchmark, printing our figures beside the references.
set -euo pipefail
cd "$(dirname "$0")/../.."
scripts/install-deps.sh --bench
cmake --preset release >/dev/null
cmake --build --preset release --target bench_startup bench_control bench_cache bench_bus bench_file bench_storage bench_jobs bench_metadata bench_upload bench_transcode bench_streaming bench_access bench_proxy bench_zmq_min streamgate streamgated
./build/release/bin/bench_startup "${1:-30}"
./build/release/bin/bench_control
tests/bench/supervisor_bench.sh "$PWD/build/release/bin"
tests/bench/cli_bench.sh "$PWD/build/release/bin"
./build/release/bin/bench_cache
./build/release/bin/bench_bus 20000
tests/bench/http_bench.sh "$PWD/build/release/bin" "$(nproc)" 64 10
./build/release/bin/bench_file 8 32
./build/release/bin/bench_storage 1024 256 3
./build/release/bin/bench_jobs 5000 2 3
./build/release/bin/bench_metadata 100000 10 32
./build/release/bin/bench_upload 1024 3 4096
./build/release/bin/bench_transcode 60 1
./build/release/bin/bench_streaming 8 32
./build/release/bin/bench_proxy 8 32
./build/release/bin/bench_access
