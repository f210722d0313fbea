#!/usr/bin/env bash
# The local chain's self-test: serves ganache on a free port of 127.0.0.1 through chain.mjs,
# deploys the ERC-721, the ERC-1155 and the EIP-1271 wallet, checks the holders, transfers ERC-721
# token 1 from account 1 to account 4 and checks its new owner, checks the wallet's answers for
# its owner's signature and another's, signs a SIWE message and makes 20 differential cases, then
# stops ganache with SIGTERM (it must exit 0).
# Exit status: 0 all good, 1 something failed, 77 skipped (no node, or the peer is not installed:
# scripts/install-deps.sh --test installs it).
#
#   tests/peers/chain/selftest.sh
set -euo pipefail

here="$(cd "$(dirname "$0")" && pwd)"
command -v node >/dev/null || { echo "selftest: skipped: no node" >&2; exit 77; }
[[ -d $here/node_modules ]] || { echo "selftest: skipped: no node_modules (run scripts/install-deps.sh --test)" >&2; exit 77; }

work="$(mktemp -d)"
server_pid=
# shellcheck disable=SC2317  # the EXIT trap calls it
cleanup() {
  if [[ -n $server_pid ]]; then kill "$server_pid" 2>/dev/null || true; fi
  rm -rf "$work"
}
trap cleanup EXIT

fail() {
  echo "selftest: FAIL: $*" >&2
  exit 1
}
chain() {
  echo "selftest: chain.mjs $*" >&2
  node "$here/chain.mjs" "$@"
}
# field JSON PATH: the value at PATH (e.g. accounts.1.address) of the JSON object JSON.
field() {
  node -e 'let v = JSON.parse(process.argv[1]);
           for (const k of process.argv[2].split(".")) v = v[k];
           console.log(typeof v === "string" ? v : JSON.stringify(v));' "$1" "$2"
}

port="$(node -e 'const s = require("net").createServer().listen(0, "127.0.0.1", () => {
                   console.log(s.address().port); s.close(); });')"
started=$SECONDS
node "$here/chain.mjs" serve --port "$port" >"$work/serve.json" 2>"$work/serve.err" &
server_pid=$!
deadline=$((SECONDS + 30))
until [[ $(head -1 "$work/serve.json") == *'}' ]]; do
  if ((SECONDS > deadline)) || ! kill -0 "$server_pid" 2>/dev/null; then
    cat "$work/serve.err" >&2
    fail "ganache did not start on 127.0.0.1:$port"
  fi
  sleep 0.05
done
served="$(head -1 "$work/serve.json")"
echo "selftest: ganache ready in about $((SECONDS - started)) s" >&2
rpc="$(field "$served" rpc)"
[[ $rpc == "http://127.0.0.1:$port" ]] || fail "rpc is $rpc"
[[ $(field "$served" chain_id) == 1337 ]] || fail "chain_id is not 1337"
[[ $(field "$served" accounts.4.address) == 0x* ]] || fail "not 5 accounts"
account() { field "$served" "accounts.$1.$2"; }

deployed="$(chain deploy --rpc "$rpc")"
erc721="$(field "$deployed" erc721)"
erc1155="$(field "$deployed" erc1155)"
wallet="$(field "$deployed" wallet)"
[[ $(field "$deployed" erc721_holder) == "$(account 1 address)" ]] || fail "erc721_holder is not account 1"
[[ $(field "$deployed" erc1155_holder) == "$(account 2 address)" ]] || fail "erc1155_holder is not account 2"
[[ $(field "$deployed" wallet_owner) == "$(account 3 address)" ]] || fail "wallet_owner is not account 3"

owner="$(field "$(chain owner --rpc "$rpc" --contract "$erc721" --token 1)" owner)"
[[ $owner == "$(account 1 address)" ]] || fail "ownerOf(1) is $owner, not account 1"
balance="$(field "$(chain balance --rpc "$rpc" --contract "$erc1155" --address "$(account 2 address)" --id 7)" balance)"
[[ $balance == 1 ]] || fail "account 2 holds $balance of ERC-1155 id 7, not 1"

chain transfer --rpc "$rpc" --contract "$erc721" --key "$(account 1 key)" --to "$(account 4 address)" --token 1 >"$work/tx.json"
[[ $(field "$(cat "$work/tx.json")" tx) =~ ^0x[0-9a-f]{64}$ ]] || fail "no transaction hash"
owner="$(field "$(chain owner --rpc "$rpc" --contract "$erc721" --token 1)" owner)"
[[ $owner == "$(account 4 address)" ]] || fail "after the transfer ownerOf(1) is $owner, not account 4"
balance="$(field "$(chain balance --rpc "$rpc" --contract "$erc721" --address "$(account 1 address)")" balance)"
[[ $balance == 0 ]] || fail "after the transfer account 1 holds $balance ERC-721 tokens"

signed="$(chain wallet-sign --key "$(account 3 key)" --message "StreamGate wallet test")"
magic="$(field "$(chain is-valid-signature --rpc "$rpc" --contract "$wallet" --hash "$(field "$signed" hash)" \
  --signature "$(field "$signed" signature)")" magic)"
[[ $magic == 0x1626ba7e ]] || fail "the wallet answers $magic for its owner's signature"
signed="$(chain wallet-sign --key "$(account 2 key)" --message "StreamGate wallet test")"
magic="$(field "$(chain is-valid-signature --rpc "$rpc" --contract "$wallet" --hash "$(field "$signed" hash)" \
  --signature "$(field "$signed" signature)")" magic)"
[[ $magic == 0xffffffff ]] || fail "the wallet answers $magic for another's signature"

siwe="$(chain siwe --key "$(account 1 key)" --domain localhost:8080 --uri http://localhost:8080/login \
  --chain-id 1337 --nonce abcdef0123456789 --issued-at 2026-01-01T00:00:00Z --statement "Sign in to StreamGate")"
[[ $(field "$siwe" address) == "$(account 1 address)" ]] || fail "the SIWE address is not account 1"
expected="localhost:8080 wants you to sign in with your Ethereum account:
$(account 1 address)

Sign in to StreamGate

URI: http://localhost:8080/login
Version: 1
Chain ID: 1337
Nonce: abcdef0123456789
Issued At: 2026-01-01T00:00:00Z"
[[ $(field "$siwe" message) == "$expected" ]] || fail "unexpected SIWE message: $(field "$siwe" message)"
[[ $(field "$siwe" signature) =~ ^0x[0-9a-f]{130}$ ]] || fail "no SIWE signature"

cases="$(chain differential --count 20 --seed selftest)"
[[ $(field "$cases" cases.length) == 20 ]] || fail "not 20 differential cases"
[[ $cases == "$(chain differential --count 20 --seed selftest)" ]] || fail "differential is not deterministic"

kill -TERM "$server_pid"
rc=0
wait "$server_pid" || rc=$?
server_pid=
((rc == 0)) || fail "ganache exited $rc on SIGTERM"
echo "selftest: ok" >&2
