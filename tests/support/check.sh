# Sourced by the shell tests: `check DESCRIPTION CONDITION...` runs the condition and prints
# "ok: DESCRIPTION" or "FAIL: DESCRIPTION", counting both in $passed and $failed.
# shellcheck shell=bash
failed=0
passed=0
check() {
  local what=$1
  shift
  if "$@"; then
    echo "ok: $what"
    passed=$((passed + 1))
  else
    echo "FAIL: $what" >&2
    failed=$((failed + 1))
  fi
}
