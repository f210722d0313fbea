#!/usr/bin/env bash
# Installs, with apt-get, whatever StreamGate needs to build, test and run that this machine lacks.
# Idempotent: a second run installs nothing and takes about a second. Debian 12 packages only,
# and npm packages pinned by committed lock files.
#
#   scripts/install-deps.sh            build and run dependencies (ffmpeg: the transcoder runs it;
#                                      node and npm unless some node is there, and `npm ci` in web/
#                                      for the web page's tus-js-client and hls.js, which the
#                                      build copies into share/streamgate/web)
#   scripts/install-deps.sh --test     also what the test suite needs (fuzzing, man lint, shells,
#                                      systemd and libseccomp for the service's tests,
#                                      awscli and s3rver, from npm, for the S3 store's tests,
#                                      @tus/server and tus-js-client, from npm, for the upload tests,
#                                      chromium, and hls.js, dash.js and playwright-core from npm,
#                                      for the players' tests, and ganache, solc, OpenZeppelin's
#                                      contracts, ethers and siwe, from npm, for the auth tests'
#                                      local chain)
#   scripts/install-deps.sh --bench    what --test installs and the benchmarks' references (nginx,
#                                      supervisor, wrk, hyperfine)
set -euo pipefail

build_pkgs=(
  g++ cmake ninja-build ccache pkg-config git
  libcli11-dev libboost-dev libspdlog-dev libfmt-dev libyaml-cpp-dev
  libzmq3-dev cppzmq-dev nlohmann-json3-dev libhiredis-dev libnats-dev
  libcurl4-openssl-dev libssl-dev libsqlite3-dev libpq-dev zlib1g-dev libsecp256k1-dev nettle-dev
  ffmpeg
)
test_pkgs=(
  catch2 clang-14 libclang-rt-14-dev clang-format clang-tidy mandoc procps util-linux bash-completion zsh fish curl
  redis-server prometheus nats-server nginx-light postgresql
  systemd libseccomp-dev awscli chromium
)
bench_pkgs=(
  hyperfine supervisor wrk nginx-light python3 redis-tools
)

want=("${build_pkgs[@]}")
# One flag at most: --bench already includes --test (a second flag used to be ignored).
if (($# > 1)); then
  echo "install-deps.sh: one flag at most (--bench includes --test); got: $*" >&2
  echo "usage: install-deps.sh [--test | --bench]" >&2
  exit 2
fi
case "${1:-}" in
  --test) want+=("${test_pkgs[@]}") ;;
  --bench) want+=("${test_pkgs[@]}" "${bench_pkgs[@]}") ;;
  "") ;;
  *) echo "usage: install-deps.sh [--test | --bench]" >&2; exit 2 ;;
esac

# The test peers from npm, each pinned by its committed package-lock.json: s3rver for the S3
# store's tests (no S3 server is packaged in Debian), and the tus project's own server and client
# (tests/peers/tus: @tus/server, @tus/file-store, tus-js-client; they need node >= 20.19) for the
# upload tests and benchmark, and the players (tests/peers/player: hls.js, dash.js, and
# playwright-core to drive Debian's chromium; the browser download that playwright's packages may
# attempt is skipped: it is not wanted and would fail here), and the local chain for the auth tests
# (tests/peers/chain: ganache, solc-js, @openzeppelin/contracts, ethers and siwe; no Ethereum node
# or Solidity compiler is packaged in Debian). Node and npm come from Debian unless some node is
# there.
with_node_peers=false
if [[ ${1:-} == --test || ${1:-} == --bench ]]; then
  with_node_peers=true
fi
# The web page's libraries (web/package-lock.json) are needed by every build: node and npm too.
if ! command -v npm >/dev/null; then want+=(nodejs npm); fi

# npm ci in one folder, once per lock file: a second run finds the lock's copy in node_modules and
# does nothing.
npm_ci() {
  local dir=$1 name=$2
  if ! cmp -s "$dir/package-lock.json" "$dir/node_modules/.installed-lock.json" 2>/dev/null; then
    echo "install-deps: npm ci in $name"
    (cd "$dir" && PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 npm ci --no-audit --no-fund --loglevel=error &&
      cp package-lock.json node_modules/.installed-lock.json)
  fi
}

install_node_peers() {
  local peer
  for peer in s3rver tus player chain; do
    npm_ci "$(dirname "$0")/../tests/peers/$peer" "tests/peers/$peer"
  done
}

missing=()
for p in "${want[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed'; then
    missing+=("$p")
  fi
done

if ((${#missing[@]} == 0)); then
  echo "install-deps: all ${#want[@]} packages present"
  npm_ci "$(dirname "$0")/../web" web
  if $with_node_peers; then install_node_peers; fi
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
npm_ci "$(dirname "$0")/../web" web
if $with_node_peers; then install_node_peers; fi
