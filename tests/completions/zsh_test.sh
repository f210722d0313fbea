#!/usr/bin/env zsh
# Loads completions/_streamgate in an interactive zsh and checks the candidates it offers for
# streamgate(1) and streamgated(8), as if TAB were pressed at the end of each line.
#
# Usage: zsh_test.sh REPO_ROOT BIN_DIR
#   REPO_ROOT  the source tree, for completions/_streamgate
#   BIN_DIR    the directory of the built streamgate and streamgated; put first on PATH
#
# Completion needs the line editor, so each line is typed into a fresh `zsh -d -i` on a pseudo-
# terminal (zsh/zpty) whose .zshrc runs compinit, loads the script, binds TAB to complete-word
# and replaces compadd with a wrapper that notes every candidate added (and matching the word
# under the cursor) before adding it. When completion is over, a comppostfuncs hook prints the
# candidates between markers and exits; the test reads the pseudo-terminal until the end marker,
# polling with a deadline. The checks run with the script sourced after compinit, and (a few)
# with compinit autoloading it from $fpath, the way it is installed. Plugin names are asked live
# with `streamgate plugins list -q`; a fake streamgate, put first on PATH, answers api-gateway and
# cache.
#
# STREAMGATE_COMPLETION_TIMEOUT (seconds, default 10) bounds the wait for zsh to start and for it
# to complete each line; a check that runs out of it fails and shows what zsh wrote.
#
# Prints one line per check and, at the end, "zsh completions: N passed, M failed"; exits 1 if
# any check failed, 2 if the test could not run, 77 (skipped) if this zsh lacks zsh/zpty.

emulate -R zsh
setopt extended_glob no_nomatch pipe_fail

if (( $# != 2 )); then
  print -u2 "usage: $0 REPO_ROOT BIN_DIR"
  exit 2
fi
root=${1:A}
bindir=${2:A}
script=$root/completions/_streamgate
if [[ ! -r $script ]]; then
  print -u2 "zsh_test: cannot read $script"
  exit 2
fi
for prog in streamgate streamgated; do
  if [[ ! -x $bindir/$prog ]]; then
    print -u2 "zsh_test: no executable $bindir/$prog"
    exit 2
  fi
done
zmodload zsh/zpty zsh/zselect zsh/datetime 2>/dev/null || {
  print -u2 "zsh_test: skipped: this zsh lacks the zsh/zpty, zsh/zselect or zsh/datetime module"
  exit 77
}

# Seconds to wait for zsh to start, and for it to complete a line.
deadline_seconds=${STREAMGATE_COMPLETION_TIMEOUT:-10}

tmp=$(mktemp -d "${TMPDIR:-/tmp}/streamgate-zsh-completion.XXXXXX") || exit 2
cleanup() {
  zpty -d sgz 2>/dev/null
  rm -rf -- $tmp
}
trap cleanup EXIT
trap 'exit 2' INT TERM

# The real binaries first on PATH. Never reach a daemon that happens to run on this machine:
# with no --endpoint on the line, the CLI asks $STREAMGATE_ENDPOINT, where nothing listens.
real_path=$bindir:$PATH
unset STREAMGATE_CONFIG
export STREAMGATE_ENDPOINT=ipc://$tmp/no-daemon.sock

# A fake streamgate for the live plugin names: it logs its arguments, prints two plugin names
# for `plugins list -q` and nothing for anything else.
mkdir -p $tmp/fake
cat >$tmp/fake/streamgate <<EOF
#!/bin/sh
printf '%s\n' "\$*" >>'$tmp/fake.log'
case " \$* " in
  *" plugins list -q "*) printf '%s\n' api-gateway cache ;;
esac
exit 0
EOF
chmod +x $tmp/fake/streamgate
fake_path=$tmp/fake:$real_path
test_path=$real_path

# The configuration keys, as the built CLI lists them (for `streamgated --set`).
: >$tmp/empty.yaml
config_keys=(${(f)"$($bindir/streamgate --config $tmp/empty.yaml config show 2>/dev/null |
  awk '$1 ~ /^[a-z0-9_]+\.[a-z0-9_.]+$/ { print $1 }')"})

# The .zshrc of the zsh under test. $SG_SOURCE is the script to source after compinit (empty to
# let compinit find it in $SG_FPATH instead).
mkdir -p $tmp/zdotdir
cat >$tmp/zdotdir/.zshrc <<'EOF'
PS1='' RPS1='' PS2='' PROMPT_EOL_MARK=''
unsetopt beep
fpath=(${SG_FPATH:+$SG_FPATH} $fpath)
autoload -Uz compinit
compinit -u -d $SG_DUMP
[[ -n $SG_SOURCE ]] && source $SG_SOURCE
bindkey '^I' complete-word
# Never run the line.
bindkey -r '^M' '^J'

# Notes each candidate that compadd adds (and that matches the word under the cursor), then adds
# it. Calls that only ask for matches (-O, -A, -D) go straight to the builtin.
typeset -ga _sg_offered
compadd() {
  if [[ ${@[1,(i)(-|--)]} == *-(O|A|D)\ * ]]; then
    builtin compadd "$@"
    return
  fi
  local -a _sg_words
  builtin compadd -O _sg_words "$@"
  _sg_offered+=("${_sg_words[@]}")
  builtin compadd "$@"
}

# After the completion: print the candidates between markers and leave.
_sg_report() {
  print -r -- $'\n<sg-offered>'
  print -rl -- "${_sg_offered[@]}"
  print -r -- '</sg-offered>'
  exit
}
comppostfuncs=(_sg_report)
print -r -- '<sg-ready>'
EOF

# read_until MARKER: reads the pseudo-terminal into $buf until it holds MARKER, zsh exits or the
# deadline passes. Polls with zselect, so it waits no longer than the output takes.
read_until() {
  local marker=$1 chunk fd=$sg_fd
  local -F deadline=$(( EPOCHREALTIME + deadline_seconds ))
  while (( EPOCHREALTIME < deadline )); do
    if zpty -rt sgz chunk; then
      buf+=$chunk
      [[ $buf == *"$marker"* ]] && return 0
      continue
    fi
    (( $? == 2 )) && return 1
    zselect -t 5 -r $fd 2>/dev/null
  done
  return 1
}

# complete_line LOADING LINE: types LINE and TAB into a fresh interactive zsh that loaded the
# script (LOADING: sourced or fpath) and sets offered to the candidates. On failure, returns 1
# with the reason in $problem.
complete_line() {
  local loading=$1 line=$2 src= fp=
  [[ $loading == sourced ]] && src=$script || fp=$root/completions
  offered=()
  problem=
  buf=
  zpty -d sgz 2>/dev/null
  zpty -b sgz env TERM=xterm PATH=${(q)test_path} ZDOTDIR=${(q)tmp}/zdotdir \
    SG_SOURCE=${(q)src} SG_FPATH=${(q)fp} SG_DUMP=${(q)tmp}/zcompdump-$loading \
    zsh -d -i || { problem="could not start zsh on a pseudo-terminal"; return 1 }
  sg_fd=$REPLY
  if ! read_until '<sg-ready>'; then
    problem="zsh did not start within ${deadline_seconds}s; it wrote: ${(q+)buf}"
    zpty -d sgz 2>/dev/null
    return 1
  fi
  buf=
  zpty -w -n sgz "$line"$'\t'
  if ! read_until '</sg-offered>'; then
    problem="zsh did not finish completing within ${deadline_seconds}s; it wrote: ${(q+)buf//$'\e'\[[0-9;?]#[a-zA-Z]/}"
    zpty -d sgz 2>/dev/null
    return 1
  fi
  zpty -d sgz 2>/dev/null
  local listing=${${buf##*$'\n'<sg-offered>}%%</sg-offered>*}
  offered=(${(u)${(f)listing//$'\r'/}})
  return 0
}

passed=0
failed=0
loading=sourced

report_pass() {
  (( passed++ ))
  print -r -- "ok    [$loading] $1"
}

report_fail() {
  (( failed++ ))
  print -r -- "FAIL  [$loading] $1"
  shift
  local detail
  for detail in "$@"; do
    print -r -- "        $detail"
  done
}

# Prints the words, quoted where needed, or "(nothing)".
show() {
  (( $# )) && print -r -- "${(j: :)${(q-)@}}" || print -r -- "(nothing)"
}

# expect HOW DESCRIPTION LINE WORD...: completing LINE offers every WORD (HOW=offers) or the
# WORDs and nothing else (HOW=exactly).
expect() {
  local how=$1 desc=$2 line=$3
  shift 3
  if ! complete_line $loading $line; then
    report_fail $desc "line:     ${(q-)line}<TAB>" "expected: $how $(show "$@")" $problem
    return 1
  fi
  local -a expected missing extra
  expected=("$@")
  missing=(${expected:|offered})
  [[ $how == exactly ]] && extra=(${offered:|expected})
  if (( $#missing == 0 && $#extra == 0 )); then
    report_pass $desc
    return 0
  fi
  local -a details
  details=("line:     ${(q-)line}<TAB>" "expected: $how $(show "$@")" "offered:  $(show $offered)")
  (( $#missing )) && details+=("missing:  $(show $missing)")
  (( $#extra )) && details+=("unexpected: $(show $extra)")
  report_fail $desc $details
  return 1
}

# expect_asked DESCRIPTION LINE ARGS: completing LINE (with the fake streamgate on PATH) offers
# the fake's plugins and asks them with ARGS among its arguments.
expect_asked() {
  local desc=$1 line=$2 args=$3 asked=
  : >$tmp/fake.log
  if complete_line $loading $line; then
    asked=$(<$tmp/fake.log)
    if (( ${offered[(Ie)api-gateway]} && ${offered[(Ie)cache]} )) &&
      [[ $'\n'$asked$'\n' == *$'\n'(|*' ')"$args"' '*$'\n'* ]]; then
      report_pass $desc
      return 0
    fi
  else
    asked=$(<$tmp/fake.log)
  fi
  report_fail $desc "line:     ${(q-)line}<TAB>" "expected: api-gateway cache, asked with: $args" \
    "offered:  $(show $offered)" "the fake streamgate was run as: ${asked:-(never)}" ${problem:+$problem}
  return 1
}

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

# check_level PROG ARGS...: completing `PROG ARGS -` offers every option of `PROG ARGS --help`,
# and completing `PROG ARGS ` offers exactly its subcommands, if it has any. Sets cmds.
check_level() {
  local shown="$*" kind word
  local -a opts
  cmds=()
  help_surface $bindir/$1 ${@:2} | while read -r kind word; do
    [[ $kind == cmd ]] && cmds+=($word)
    [[ $kind == opt ]] && opts+=($word)
  done
  if (( $#opts == 0 )); then
    report_fail "$shown -<TAB> offers every option of \`$shown --help\`" \
      "could not read the options from \`$bindir/$shown --help\`"
    return
  fi
  expect offers "$shown -<TAB> offers every option of \`$shown --help\`" "$shown -" $opts
  if (( $#cmds )); then
    expect exactly "$shown <TAB> offers exactly the subcommands of \`$shown --help\`" "$shown " $cmds
  fi
}

# Every subcommand and option that the programs' --help lists, level by level, is offered.
help_checks() {
  local -a cmds top subs
  local command sub
  check_level streamgate
  top=($cmds)
  for command in $top; do
    check_level streamgate $command
    subs=($cmds)
    for sub in $subs; do
      check_level streamgate $command $sub
    done
  done
  check_level streamgated
}

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
  test_path=$fake_path
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
  test_path=$real_path

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
  if (( $#config_keys == 0 )); then
    report_fail "streamgated --set <TAB> offers every configuration key" \
      "could not read the keys from \`streamgate config show\`"
  else
    # zsh adds the keys with '=' as their suffix, so the candidates are the bare keys.
    expect exactly "streamgated --set <TAB> offers every key of \`streamgate config show\`" \
      "streamgated --set " $config_keys
  fi

  # Whatever the built programs' --help lists is offered.
  help_checks
}

# The checks for the script autoloaded from $fpath, as installed.
fpath_checks() {
  expect offers "streamgate <TAB> autoloads the completion and offers every command" "streamgate " \
    version config start stop status plugins health logs log-level keys
  expect offers "streamgate plugins stop --<TAB> offers --cascade" "streamgate plugins stop --" --cascade
  expect offers "streamgated --<TAB> autoloads the completion and offers its options" "streamgated --" \
    --config --mode --service --log-level --log-format --set
}

loading=sourced
full_checks
loading=fpath
fpath_checks

print -r -- "zsh completions: $passed passed, $failed failed"
(( failed == 0 ))
