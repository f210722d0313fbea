#!/usr/bin/env bash
# Installs what is missing, builds, and runs every test: the dev build (warnings as errors), the
# whole suite under ASan+UBSan, the threaded tests under TSan, and the libFuzzer targets for a
# bounded time. CI runs exactly this (.ci/run).
#
#   scripts/test.sh              everything
#   SG_TEST_STAGES="dev asan"    only some stages (dev lint asan tsan fuzz)
#   SG_LINT_BASE=origin/main     what the lint stage's clang-tidy compares with (HEAD~1)
#   SG_FUZZ_SECONDS=60           how long each fuzz target runs
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/install-deps.sh --test

stages=${SG_TEST_STAGES:-"dev lint asan tsan fuzz"}
fuzz_seconds=${SG_FUZZ_SECONDS:-60}
export CCACHE_DIR=${CCACHE_DIR:-$HOME/.cache/ccache}
# Paths relative to the checkout, and no working directory in the hash: a fresh clone in another
# folder (as CI makes) hits what an earlier build put in the cache.
export CCACHE_BASEDIR=${CCACHE_BASEDIR:-$PWD}
export CCACHE_NOHASHDIR=${CCACHE_NOHASHDIR:-1}
export CTEST_PARALLEL_LEVEL=${CTEST_PARALLEL_LEVEL:-2}
# Sanitizer reports fail the run; leak checking is on by default under ASan.
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=0:halt_on_error=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
export TSAN_OPTIONS=${TSAN_OPTIONS:-halt_on_error=1:second_deadlock_stack=1:suppressions=$PWD/tests/tsan.supp}

summary=()
passed=0
failed=0
run_stage() {
  local name=$1
  shift
  local start=$SECONDS
  echo "=== stage $name"
  "$@"
  summary+=("$name: ok in $((SECONDS - start))s")
}

ctest_stage() {
  local preset=$1
  cmake --preset "$preset" >/dev/null
  if [[ $preset == tsan ]]; then
    # Only the threaded unit tests run under TSan: build just them (the kernel, the SQL engines
    # with their pools, the job queue's worker threads and stores).
    cmake --build --preset "$preset" --target kernel_tests sql_tests worker_tests
  else
    cmake --build --preset "$preset"
  fi
  local log
  log=$(mktemp)
  local rc=0
  ctest --preset "$preset" 2>&1 | tee "$log" || rc=$?
  # "100% tests passed, 0 tests failed out of 175": add it to the run's totals.
  local line total bad
  line=$(grep -E 'tests passed, [0-9]+ tests? failed out of [0-9]+' "$log" | tail -1)
  rm -f "$log"
  if [[ -n $line ]]; then
    bad=$(sed -E 's/.* ([0-9]+) tests? failed out of ([0-9]+).*/\1/' <<<"$line")
    total=$(sed -E 's/.* failed out of ([0-9]+).*/\1/' <<<"$line")
    passed=$((passed + total - bad))
    failed=$((failed + bad))
  fi
  return "$rc"
}

fuzz_stage() {
  cmake --preset fuzz >/dev/null
  cmake --build --preset fuzz
  local work
  work=$(mktemp -d)
  for target in config control http; do
    mkdir -p "$work/$target"
    # The committed seed corpus is read only; new inputs go to a scratch copy.
    ./build/fuzz/bin/${target}_fuzz -max_total_time="$fuzz_seconds" -timeout=10 \
      -rss_limit_mb=2048 -print_final_stats=1 -artifact_prefix="$work/" \
      "$work/$target" "tests/fuzz/corpus/$target"
  done
  rm -rf "$work"
}

for stage in $stages; do
  case $stage in
    dev | asan | tsan) run_stage "$stage" ctest_stage "$stage" ;;
    fuzz) run_stage fuzz fuzz_stage ;;
    # Formatting of every file, clang-tidy on what the last change touched (the dev build's
    # compile_commands.json, so after dev).
    lint) run_stage lint scripts/lint.sh ;;
    *) echo "scripts/test.sh: unknown stage '$stage' (dev lint asan tsan fuzz)" >&2; exit 2 ;;
  esac
done

printf '%s\n' "${summary[@]}"
# The plain closing line: every test of every stage.
echo "${passed} passed, ${failed} failed"
