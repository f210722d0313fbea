#!/usr/bin/env bash
# Installs, with apt-get, whatever StreamGate needs to build, test and run that this machine lacks.
# Idempotent: a second run installs nothing and takes about a second. Debian 12 packages only.
#
#   scripts/install-deps.sh            build and run dependencies
#   scripts/install-deps.sh --test     also what the test suite needs (fuzzing, man lint, shells,
#                                      systemd, libseccomp and ffmpeg for the service's tests)
#   scripts/install-deps.sh --bench    also the benchmarks' references (nginx, supervisor, wrk, hyperfine)
set -euo pipefail

build_pkgs=(
  g++ cmake ninja-build ccache pkg-config git
  libcli11-dev libboost-dev libspdlog-dev libfmt-dev libyaml-cpp-dev
  libzmq3-dev cppzmq-dev nlohmann-json3-dev libsystemd-dev libhiredis-dev libnats-dev
)
test_pkgs=(
  catch2 clang-14 libclang-rt-14-dev mandoc procps util-linux bash-completion zsh fish curl
  redis-server prometheus nats-server nginx-light
  systemd libseccomp-dev ffmpeg
)
bench_pkgs=(
  hyperfine supervisor wrk nginx-light python3 redis-tools
)

want=("${build_pkgs[@]}")
case "${1:-}" in
  --test) want+=("${test_pkgs[@]}") ;;
  --bench) want+=("${test_pkgs[@]}" "${bench_pkgs[@]}") ;;
  "") ;;
  *) echo "usage: install-deps.sh [--test | --bench]" >&2; exit 2 ;;
esac

missing=()
for p in "${want[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed'; then
    missing+=("$p")
  fi
done

if ((${#missing[@]} == 0)); then
  echo "install-deps: all ${#want[@]} packages present"
  exit 0
fi

if [[ $EUID -ne 0 ]]; then
  SUDO=sudo
else
  SUDO=
fi
echo "install-deps: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
# The package lists of a fresh machine are empty or stale: refresh them once per run that installs.
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
