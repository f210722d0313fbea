#!/usr/bin/env bash
# Loads completions/streamgate.bash in bash and checks the candidates it offers for streamgate(1)
# and streamgated(8), as if TAB were pressed at the end of each line.
#
# Usage: bash_test.sh REPO_ROOT BIN_DIR
#   REPO_ROOT  the source tree, for completions/streamgate.bash
#   BIN_DIR    the directory of the built streamgate and streamgated; put first on PATH
#
# The checks run three times: with the bash-completion package loaded and the script sourced,
# with the script sourced into plain bash (its fallback when bash-completion is missing), and
# (a few) with bash-completion loading it on demand, the way it is installed. Each line is split
# into COMP_WORDS the way readline splits it (on blanks and on the COMP_WORDBREAKS characters such
# as = and :), the function that `complete -p` names is called, and COMPREPLY is compared with
# what is expected. Plugin names are asked live with `streamgate plugins list -q`; a fake
# streamgate, put first on PATH, answers api-gateway and cache.
#
# Prints one line per check and, at the end, "bash completions: N passed, M failed"; exits 1 if
# any check failed, 2 if the test could not run.

if (($# != 2)); then
  echo "usage: $0 REPO_ROOT BIN_DIR" >&2
  exit 2
fi
root=$(cd -- "$1" && pwd) || exit 2
bindir=$(cd -- "$2" && pwd) || exit 2
script=$root/completions/streamgate.bash
bash_completion=/usr/share/bash-completion/bash_completion
if [[ ! -r $script ]]; then
  echo "bash_test: cannot read $script" >&2
  exit 2
fi
for prog in streamgate streamgated; do
  if [[ ! -x $bindir/$prog ]]; then
    echo "bash_test: no executable $bindir/$prog" >&2
    exit 2
  fi
done

tmp=$(mktemp -d "${TMPDIR:-/tmp}/streamgate-bash-completion.XXXXXX") || exit 2
trap 'rm -rf -- "$tmp"' EXIT

# The real binaries first on PATH. Never reach a daemon that happens to run on this machine:
# with no --endpoint on the line, the CLI asks $STREAMGATE_ENDPOINT, where nothing listens.
export PATH=$bindir:$PATH
unset STREAMGATE_CONFIG
export STREAMGATE_ENDPOINT=ipc://$tmp/no-daemon.sock
real_path=$PATH

# A fake streamgate for the live plugin names: it logs its arguments, prints two plugin names
# for `plugins list -q` and nothing for anything else.
mkdir -p "$tmp/fake"
cat >"$tmp/fake/streamgate" <<EOF
#!/bin/sh
printf '%s\n' "\$*" >>'$tmp/fake.log'
case " \$* " in
  *" plugins list -q "*) printf '%s\n' api-gateway cache ;;
esac
exit 0
EOF
chmod +x "$tmp/fake/streamgate"
fake_path=$tmp/fake:$real_path

# The configuration keys, as the built CLI lists them (for `streamgated --set`).
: >"$tmp/empty.yaml"
mapfile -t config_keys < <("$bindir/streamgate" --config "$tmp/empty.yaml" config show 2>/dev/null |
  awk '$1 ~ /^[a-z0-9_]+\.[a-z0-9_.]+$/ { print $1 }')

# help_surface ARGS...: the subcommands ("cmd NAME") and option names ("opt -x", "opt --xyz")
# that `ARGS --help` lists.
help_surface() {
  "$@" --help 2>/dev/null | awk '
    /^Subcommands:/ { section = "cmd"; next }
    /^Options:/     { section = "opt"; next }
    /^[^ ]/         { section = ""; next }
    section == "cmd" && /^  [a-z]/ { print "cmd " $1 }
    section == "opt" && /^  -/ {
      n = split($1, names, ",")
      for (i = 1; i <= n; i++) print "opt " names[i]
    }'
}

passed=0
failed=0
mode=""

report_pass() {
  ((passed++))
  printf 'ok    [%s] %s\n' "$mode" "$1"
}

report_fail() {
  ((failed++))
  printf 'FAIL  [%s] %s\n' "$mode" "$1"
  shift
  local detail
  for detail in "$@"; do
    printf '        %s\n' "$detail"
  done
}

# Prints the words, quoted where needed, or "(nothing)".
show() {
  if (($# == 0)); then
    echo "(nothing)"
  else
    local out
    printf -v out '%q ' "$@"
    echo "${out% }"
  fi
}

contains() {
  local needle=$1 word
  shift
  for word; do
    [[ $word == "$needle" ]] && return 0
  done
  return 1
}

# Sets LINE_WORDS to the words readline makes of LINE for completion: blanks separate words,
# each run of the other COMP_WORDBREAKS characters (= : and so on) is a word of its own, and a
# LINE ending in a blank ends in an empty word.
split_line() {
  local line=$1 breaks=${COMP_WORDBREAKS:-$' \t\n"\'><=;|&(:'} word="" kind="" c i
  LINE_WORDS=()
  for ((i = 0; i < ${#line}; i++)); do
    c=${line:i:1}
    if [[ $c == [[:blank:]] ]]; then
      [[ -n $word ]] && LINE_WORDS+=("$word")
      word="" kind=""
    elif [[ $breaks == *"$c"* ]]; then
      if [[ $kind == text ]]; then
        LINE_WORDS+=("$word")
        word=""
      fi
      word+=$c kind=break
    else
      if [[ $kind == break ]]; then
        LINE_WORDS+=("$word")
        word=""
      fi
      word+=$c kind=text
    fi
  done
  [[ -n $word ]] && LINE_WORDS+=("$word")
  [[ $line == *[[:blank:]] ]] && LINE_WORDS+=("")
  return 0
}

# Completes LINE as bash does when TAB is pressed at its end: sets COMP_WORDS, COMP_CWORD,
# COMP_LINE and COMP_POINT, and calls the function registered for the command (having the
# default completion, bash-completion's loader, load it first if there is none yet). Sets
# OFFERED to COMPREPLY and NOISE to whatever the function wrote to the terminal.
complete_line() {
  local line=$1 spec cmd cur prev
  split_line "$line"
  COMP_WORDS=("${LINE_WORDS[@]}")
  COMP_CWORD=$((${#COMP_WORDS[@]} - 1))
  COMP_LINE=$line
  COMP_POINT=${#line}
  COMP_TYPE=9
  COMP_KEY=9
  cmd=${COMP_WORDS[0]}
  cur=${COMP_WORDS[COMP_CWORD]}
  prev=${COMP_WORDS[COMP_CWORD - 1]}
  OFFERED=()
  NOISE=""
  COMPREPLY=()
  if ! spec=$(complete -p "$cmd" 2>/dev/null); then
    if spec=$(complete -p -D 2>/dev/null) && [[ $spec =~ -F\ ([^ ]+) ]]; then
      "${BASH_REMATCH[1]}" "$cmd" "$cur" "$prev" >/dev/null 2>&1
    fi
    spec=$(complete -p "$cmd" 2>/dev/null) || {
      NOISE="no completion is registered for $cmd"
      return 1
    }
  fi
  if [[ ! $spec =~ -F\ ([^ ]+) ]]; then
    NOISE="the completion of $cmd is not a function: $spec"
    return 1
  fi
  COMPREPLY=()
  "${BASH_REMATCH[1]}" "$cmd" "$cur" "$prev" >"$tmp/noise" 2>&1
  OFFERED=("${COMPREPLY[@]}")
  NOISE=$(<"$tmp/noise")
  return 0
}

# expect HOW DESCRIPTION LINE WORD...: completing LINE offers every WORD (HOW=offers) or the
# WORDs and nothing else (HOW=exactly), and writes nothing to the terminal.
expect() {
  local how=$1 desc=$2 line=$3 word
  shift 3
  complete_line "$line"
  local -a missing=() extra=()
  for word; do
    contains "$word" "${OFFERED[@]}" || missing+=("$word")
  done
  if [[ $how == exactly ]]; then
    for word in "${OFFERED[@]}"; do
      contains "$word" "$@" || extra+=("$word")
    done
  fi
  if ((${#missing[@]} == 0 && ${#extra[@]} == 0)) && [[ -z $NOISE ]]; then
    report_pass "$desc"
    return 0
  fi
  local -a details=("line:     $(printf '%q' "$line")<TAB>" "COMP_WORDS: $(show "${COMP_WORDS[@]}")"
    "expected: $how $(show "$@")" "offered:  $(show "${OFFERED[@]}")")
  ((${#missing[@]})) && details+=("missing:  $(show "${missing[@]}")")
  ((${#extra[@]})) && details+=("unexpected: $(show "${extra[@]}")")
  [[ -n $NOISE ]] && details+=("wrote to the terminal: $NOISE")
  report_fail "$desc" "${details[@]}"
  return 1
}

# expect_asked DESCRIPTION LINE ARGS: completing LINE (with the fake streamgate on PATH) offers
# the fake's plugins and asks them with ARGS among its arguments.
expect_asked() {
  local desc=$1 line=$2 args=$3
  : >"$tmp/fake.log"
  complete_line "$line"
  local asked
  asked=$(<"$tmp/fake.log")
  if contains api-gateway "${OFFERED[@]}" && contains cache "${OFFERED[@]}" &&
    [[ $'\n'$asked$'\n' == *$'\n'*" $args "*$'\n'* || $'\n'$asked$'\n' == *$'\n'"$args "*$'\n'* ]]; then
    report_pass "$desc"
    return 0
  fi
  report_fail "$desc" "line:     $(printf '%q' "$line")<TAB>" "COMP_WORDS: $(show "${COMP_WORDS[@]}")" \
    "expected: api-gateway cache, asked with: $args" "offered:  $(show "${OFFERED[@]}")" \
    "the fake streamgate was run as: ${asked:-(never)}"
  return 1
}

# The checks that each loading of the script must pass.
full_checks() {
  # The top level.
  expect offers "streamgate <TAB> offers every command" "streamgate " \
    version config start stop status plugins health logs log-level keys
  expect offers "streamgate --<TAB> offers the global options" "streamgate --" \
    --config --endpoint --timeout --json --help
  expect offers "streamgate --json <TAB> still offers the commands" "streamgate --json " \
    version config start stop status plugins health logs log-level keys
  expect offers "streamgate --endpoint tcp://127.0.0.1:5555 <TAB> still offers the commands" \
    "streamgate --endpoint tcp://127.0.0.1:5555 " \
    version config start stop status plugins health logs log-level keys

  # Subcommands.
  expect offers "streamgate plugins <TAB> offers its subcommands" "streamgate plugins " \
    list start stop restart
  expect offers "streamgate config <TAB> offers its subcommands" "streamgate config " \
    validate show reload
  expect offers "streamgate keys <TAB> offers its subcommands" "streamgate keys " generate

  # Options and their values.
  expect offers "streamgate plugins stop --<TAB> offers --cascade" "streamgate plugins stop --" --cascade
  expect offers "streamgate plugins restart --<TAB> offers --cascade" "streamgate plugins restart --" --cascade
  expect offers "streamgate logs --<TAB> offers its options" "streamgate logs --" \
    --follow --level --plugin --exclude-plugin --grep --since --lines
  expect offers "streamgate log-level <TAB> offers the levels" "streamgate log-level " \
    trace debug info warn error critical off
  expect offers "streamgate logs --level <TAB> offers the levels" "streamgate logs --level " \
    trace debug info warn error critical
  expect exactly "streamgate start --mode <TAB> offers the modes" "streamgate start --mode " \
    monolith microservice

  # Plugin names, asked live.
  expect exactly "streamgate plugins stop <TAB> offers nothing when no daemon answers" \
    "streamgate plugins stop "
  PATH=$fake_path
  hash -r
  expect exactly "streamgate plugins stop <TAB> offers the running plugins" \
    "streamgate plugins stop " api-gateway cache
  expect exactly "streamgate plugins start <TAB> offers the running plugins" \
    "streamgate plugins start " api-gateway cache
  expect exactly "streamgate plugins restart --cascade <TAB> offers the running plugins" \
    "streamgate plugins restart --cascade " api-gateway cache
  expect exactly "streamgate logs --plugin <TAB> offers the running plugins" \
    "streamgate logs --plugin " api-gateway cache
  expect_asked "streamgate -c FILE plugins stop <TAB> asks the daemon of FILE" \
    "streamgate -c $tmp/other.yaml plugins stop " "--config $tmp/other.yaml"
  expect_asked "streamgate --endpoint tcp://127.0.0.1:5555 plugins stop <TAB> asks that endpoint" \
    "streamgate --endpoint tcp://127.0.0.1:5555 plugins stop " "--endpoint tcp://127.0.0.1:5555"
  PATH=$real_path
  hash -r

  # streamgated.
  expect offers "streamgated --<TAB> offers its options" "streamgated --" \
    --config --mode --service --log-level --log-format --set --help --version
  expect exactly "streamgated --mode <TAB> offers the modes" "streamgated --mode " monolith microservice
  expect exactly "streamgated --mode=<TAB> offers the modes" "streamgated --mode=" monolith microservice
  expect exactly "streamgated --service <TAB> offers the nine services" "streamgated --service " \
    api-gateway upload transcoder streaming metadata cache auth worker monitor
  expect exactly "streamgated --log-level <TAB> offers the levels" "streamgated --log-level " \
    trace debug info warn error critical off
  expect exactly "streamgated --log-format <TAB> offers the formats" "streamgated --log-format " \
    dev prod json
  if ((${#config_keys[@]} == 0)); then
    report_fail "streamgated --set <TAB> offers every configuration key" \
      "could not read the keys from \`streamgate config show\`"
  else
    expect exactly "streamgated --set <TAB> offers KEY= for every key of \`streamgate config show\`" \
      "streamgated --set " "${config_keys[@]/%/=}"
  fi

  # Whatever the built programs' --help lists is offered.
  help_checks
}

# help_level PROG ARGS...: sets cmds and opts to the subcommands and options of `PROG ARGS --help`.
help_level() {
  local kind word
  cmds=() opts=()
  while read -r kind word; do
    [[ $kind == cmd ]] && cmds+=("$word")
    [[ $kind == opt ]] && opts+=("$word")
  done < <(help_surface "$bindir/$1" "${@:2}")
}

# check_level PROG ARGS...: completing `PROG ARGS -` offers every option of `PROG ARGS --help`,
# and completing `PROG ARGS ` offers exactly its subcommands, if it has any.
check_level() {
  local shown="$*"
  help_level "$@"
  if ((${#opts[@]} == 0)); then
    report_fail "$shown -<TAB> offers every option of \`$shown --help\`" \
      "could not read the options from \`$bindir/$shown --help\`"
    return
  fi
  expect offers "$shown -<TAB> offers every option of \`$shown --help\`" "$shown -" "${opts[@]}"
  if ((${#cmds[@]})); then
    expect exactly "$shown <TAB> offers exactly the subcommands of \`$shown --help\`" "$shown " "${cmds[@]}"
  fi
}

# Every subcommand and option that the programs' --help lists, level by level, is offered.
help_checks() {
  local -a cmds opts top subs
  local command sub
  check_level streamgate
  top=("${cmds[@]}")
  for command in "${top[@]}"; do
    check_level streamgate "$command"
    subs=("${cmds[@]}")
    for sub in "${subs[@]}"; do
      check_level streamgate "$command" "$sub"
    done
  done
  check_level streamgated
}

# The checks for the script loaded on demand, as installed under both names.
on_demand_checks() {
  expect offers "streamgate <TAB> loads the completion and offers every command" "streamgate " \
    version config start stop status plugins health logs log-level keys
  expect offers "streamgate plugins stop --<TAB> offers --cascade" "streamgate plugins stop --" --cascade
  expect offers "streamgated --<TAB> loads the completion and offers its options" "streamgated --" \
    --config --mode --service --log-level --log-format --set
}

# run_mode NAME SETUP CHECKS: runs CHECKS in a subshell after SETUP (sourcing bash-completion
# cannot be undone), then adds the subshell's counts to this shell's.
# shellcheck disable=SC2030,SC2031
run_mode() {
  local name=$1 setup=$2 checks=$3 p f
  mode=$name
  (
    passed=0 failed=0
    $setup || exit 2
    $checks
    echo "$passed $failed" >"$tmp/counts"
  )
  if [[ ! -s $tmp/counts ]]; then
    report_fail "could not load the completions for this mode"
    return
  fi
  read -r p f <"$tmp/counts"
  rm -f "$tmp/counts"
  ((passed += p, failed += f))
}

setup_bash_completion() {
  # shellcheck source=/dev/null
  source "$bash_completion" && source "$script" && complete -p streamgate >/dev/null
}

setup_plain() {
  # shellcheck source=/dev/null
  source "$script" && complete -p streamgate >/dev/null
}

setup_on_demand() {
  mkdir -p "$tmp/user/completions"
  ln -sf "$script" "$tmp/user/completions/streamgate"
  ln -sf "$script" "$tmp/user/completions/streamgated"
  export BASH_COMPLETION_USER_DIR=$tmp/user
  # shellcheck source=/dev/null
  source "$bash_completion" && ! complete -p streamgate >/dev/null 2>&1
}

if [[ -r $bash_completion ]]; then
  run_mode "bash-completion" setup_bash_completion full_checks
  run_mode "on demand" setup_on_demand on_demand_checks
else
  echo "note: $bash_completion is missing; checking plain bash only"
fi
run_mode "plain bash" setup_plain full_checks

echo "bash completions: $passed passed, $failed failed"
((failed == 0))
