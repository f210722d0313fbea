#!/usr/bin/env fish
# Loads completions/streamgate.fish in fish and checks the candidates it offers for
# streamgate(1) and streamgated(8), as if TAB were pressed at the end of each line.
#
# Usage: fish --no-config fish_test.sh REPO_ROOT BIN_DIR
#   REPO_ROOT  the source tree, for completions/streamgate.fish
#   BIN_DIR    the directory of the built streamgate and streamgated; put first on PATH
#
# Each line is completed by `complete -C` in a fresh `fish --no-config`, whose fish_complete_path
# holds no other streamgate completions, and the candidates (the part of each output line
# before its tab) are compared with what is expected; anything the completion writes to stderr
# fails the check. The checks run with the script sourced, and (a few) with fish loading it on
# demand from fish_complete_path, where it is installed as streamgate.fish and streamgated.fish.
# Plugin names are asked live with `streamgate plugins list -q`; a fake streamgate, put first on
# PATH, answers api-gateway and cache.
#
# Prints one line per check and, at the end, "fish completions: N passed, M failed"; exits 1 if
# any check failed, 2 if the test could not run.

if test (count $argv) -ne 2
    echo "usage: "(status filename)" REPO_ROOT BIN_DIR" >&2
    exit 2
end
set -g root (path resolve -- $argv[1])
set -g bindir (path resolve -- $argv[2])
set -g script $root/completions/streamgate.fish
if not test -r $script
    echo "fish_test: cannot read $script" >&2
    exit 2
end
for prog in streamgate streamgated
    if not test -x $bindir/$prog
        echo "fish_test: no executable $bindir/$prog" >&2
        exit 2
    end
end
set -g fish_bin (status fish-path)

set -l tmpdir /tmp
set -q TMPDIR[1]; and set tmpdir $TMPDIR
set -g tmp (mktemp -d $tmpdir/streamgate-fish-completion.XXXXXX)
or exit 2
function cleanup --on-event fish_exit
    rm -rf -- $tmp
end

# The real binaries first on PATH. Never reach a daemon that happens to run on this machine:
# with no --endpoint on the line, the CLI asks $STREAMGATE_ENDPOINT, where nothing listens.
set -g real_path $bindir $PATH
set -e STREAMGATE_CONFIG
set -gx STREAMGATE_ENDPOINT ipc://$tmp/no-daemon.sock

# A fake streamgate for the live plugin names: it logs its arguments, prints two plugin names
# for `plugins list -q` and nothing for anything else.
mkdir -p $tmp/fake
printf '%s\n' '#!/bin/sh' \
    "printf '%s\\n' \"\$*\" >>'$tmp/fake.log'" \
    'case " $* " in' \
    '  *" plugins list -q "*) printf \'%s\\n\' api-gateway cache ;;' \
    'esac' \
    'exit 0' >$tmp/fake/streamgate
chmod +x $tmp/fake/streamgate
set -g fake_path $tmp/fake $real_path
set -g test_path $real_path

# Where fish looks for completions: nothing at all for the sourced script, and the script under
# both its installed names for loading on demand.
mkdir -p $tmp/no-completions $tmp/vendor_completions.d
ln -s $script $tmp/vendor_completions.d/streamgate.fish
ln -s $script $tmp/vendor_completions.d/streamgated.fish

# The configuration keys, as the built CLI lists them (for `streamgated --set`).
touch $tmp/empty.yaml
set -g config_keys ($bindir/streamgate --config $tmp/empty.yaml config show 2>/dev/null | awk '$1 ~ /^[a-z0-9_]+\.[a-z0-9_.]+$/ { print $1 }')

set -g passed 0
set -g failed 0
set -g loading sourced

function report_pass --argument-names desc
    set -g passed (math $passed + 1)
    echo "ok    [$loading] $desc"
end

function report_fail --argument-names desc
    set -g failed (math $failed + 1)
    echo "FAIL  [$loading] $desc"
    for detail in $argv[2..-1]
        echo "        $detail"
    end
end

# Prints the words, quoted where needed, or "(nothing)".
function show
    if test (count $argv) -eq 0
        echo "(nothing)"
    else
        string join ' ' -- (string escape -- $argv)
    end
end

# complete_line LINE: the candidates fish offers for LINE, in a fresh fish that loaded the script
# ($loading: sourced or on-demand), with $test_path as PATH. Sets noise to its stderr.
function complete_line --argument-names line
    set -l source_script
    set -l complete_path $tmp/no-completions
    if test $loading = sourced
        set source_script $script
    else
        set complete_path $tmp/vendor_completions.d
    end
    set -l candidates (env PATH=(string join : -- $test_path) SG_LINE=$line SG_SCRIPT=$source_script \
        SG_COMPLETE_PATH=$complete_path $fish_bin --no-config -c '
            set -g fish_complete_path $SG_COMPLETE_PATH
            test -n "$SG_SCRIPT"; and source $SG_SCRIPT
            complete -C $SG_LINE' 2>$tmp/noise)
    set -g noise (cat $tmp/noise)
    # The candidate is what comes before the tab; for "--opt=VALUE" the option is given back too.
    set -l token (string split -- ' ' $line)[-1]
    set -l prefix ''
    if string match -qr -- '^-[^=]*=' $token
        set prefix (string replace -r -- '=.*' '=' $token)
    end
    for candidate in $candidates
        set candidate (string split -m 1 -- \t $candidate)[1]
        if test -n "$prefix"
            set candidate (string replace -- $prefix '' $candidate)
        end
        printf '%s\n' $candidate
    end
end

# expect HOW DESCRIPTION LINE WORD...: completing LINE offers every WORD (HOW=offers) or the
# WORDs and nothing else (HOW=exactly), and writes nothing to stderr.
function expect --argument-names how desc line
    set -l expected $argv[4..-1]
    set -l offered (complete_line $line)
    set -l missing
    set -l extra
    for word in $expected
        contains -- $word $offered; or set -a missing $word
    end
    if test $how = exactly
        for word in $offered
            contains -- $word $expected; or set -a extra $word
        end
    end
    if test (count $missing) -eq 0 -a (count $extra) -eq 0 -a (count $noise) -eq 0
        report_pass $desc
        return 0
    end
    set -l details "line:     "(string escape -- $line)"<TAB>" \
        "expected: $how "(show $expected) "offered:  "(show $offered)
    test (count $missing) -gt 0; and set -a details "missing:  "(show $missing)
    test (count $extra) -gt 0; and set -a details "unexpected: "(show $extra)
    test (count $noise) -gt 0; and set -a details "wrote to stderr: "(string join ' / ' -- $noise)
    report_fail $desc $details
    return 1
end

# expect_asked DESCRIPTION LINE ARGS: completing LINE (with the fake streamgate on PATH) offers
# the fake's plugins and asks them with ARGS among its arguments.
function expect_asked --argument-names desc line args
    echo -n >$tmp/fake.log
    set -l offered (complete_line $line)
    set -l asked (cat $tmp/fake.log)
    if contains -- api-gateway $offered; and contains -- cache $offered
        and string match -q -- "*$args *" " "$asked
        report_pass $desc
        return 0
    end
    set -l ran (string join ' / ' -- $asked)
    test -n "$ran"; or set ran "(never)"
    report_fail $desc "line:     "(string escape -- $line)"<TAB>" \
        "expected: api-gateway cache, asked with: $args" "offered:  "(show $offered) \
        "the fake streamgate was run as: $ran"
    return 1
end

# help_surface ARGS...: the subcommands ("cmd NAME") and option names ("opt -x", "opt --xyz")
# that `ARGS --help` lists.
function help_surface
    $argv --help 2>/dev/null | awk '
        /^Subcommands:/ { section = "cmd"; next }
        /^Options:/     { section = "opt"; next }
        /^[^ ]/         { section = ""; next }
        section == "cmd" && /^  [a-z]/ { print "cmd " $1 }
        section == "opt" && /^  -/ {
          n = split($1, names, ",")
          for (i = 1; i <= n; i++) print "opt " names[i]
        }'
end

# check_level PROG ARGS...: completing `PROG ARGS -` offers every option of `PROG ARGS --help`,
# and completing `PROG ARGS ` offers exactly its subcommands, if it has any. Sets level_cmds to
# them.
function check_level
    set -l shown (string join ' ' -- $argv)
    set -l surface (help_surface $bindir/$argv[1] $argv[2..-1])
    set -l cmds (string replace -rf '^cmd ' '' -- $surface)
    set -l opts (string replace -rf '^opt ' '' -- $surface)
    set -g level_cmds $cmds
    if test (count $opts) -eq 0
        report_fail "$shown -<TAB> offers every option of `$shown --help`" \
            "could not read the options from `$bindir/$shown --help`"
        return
    end
    expect offers "$shown -<TAB> offers every option of `$shown --help`" "$shown -" $opts
    if test (count $cmds) -gt 0
        expect exactly "$shown <TAB> offers exactly the subcommands of `$shown --help`" "$shown " $cmds
    end
end

# Every subcommand and option that the programs' --help lists, level by level, is offered.
function help_checks
    check_level streamgate
    set -l top $level_cmds
    for command in $top
        check_level streamgate $command
        set -l subs $level_cmds
        for sub in $subs
            check_level streamgate $command $sub
        end
    end
    check_level streamgated
end

function full_checks
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
    set -g test_path $fake_path
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
    set -g test_path $real_path

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
    if test (count $config_keys) -eq 0
        report_fail "streamgated --set <TAB> offers every configuration key" \
            "could not read the keys from `streamgate config show`"
    else
        expect exactly "streamgated --set <TAB> offers KEY= for every key of `streamgate config show`" \
            "streamgated --set " (string replace -r -- '$' '=' $config_keys)
    end

    # Whatever the built programs' --help lists is offered.
    help_checks
end

# The checks for the script loaded on demand, as installed under both names.
function on_demand_checks
    expect offers "streamgate <TAB> loads the completion and offers every command" "streamgate " \
        version config start stop status plugins health logs log-level keys
    expect offers "streamgate plugins stop --<TAB> offers --cascade" "streamgate plugins stop --" --cascade
    expect offers "streamgated --<TAB> loads the completion and offers its options" "streamgated --" \
        --config --mode --service --log-level --log-format --set
end

set -g loading sourced
full_checks
set -g loading on-demand
on_demand_checks

echo "fish completions: $passed passed, $failed failed"
test $failed -eq 0
