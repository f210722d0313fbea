#!/usr/bin/env bash
# Builds a release and runs the benchmarks, printing our figures beside the references.
set -euo pipefail
cd "$(dirname "$0")/../.."
scripts/install-deps.sh --test
cmake --preset release >/dev/null
cmake --build --preset release --target bench_startup
./build/release/bin/bench_startup "${1:-30}"
