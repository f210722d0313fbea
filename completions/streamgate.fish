# fish completion for streamgate(1) and streamgated(8)
#
# Installed as fish/vendor_completions.d/streamgate.fish. fish loads it on demand for
# streamgate; source it (or link it as streamgated.fish) for streamgated.

# True while no command has been typed yet; skips the global options and the value of --config.
function __streamgate_needs_command
  set -l tokens (commandline -opc)
  set -e tokens[1]
  set -l skip 0
  for token in $tokens
    if test $skip -eq 1
      set skip 0
      continue
    end
    switch $token
      case -c --config
        set skip 1
      case '-*'
      case '*'
        return 1
    end
  end
  return 0
end

# streamgate [-c FILE] [--json] COMMAND
complete -c streamgate -f
complete -c streamgate -n __streamgate_needs_command -s c -l config -r -F -d 'Configuration file to use (default: $STREAMGATE_CONFIG, else the search path)'
complete -c streamgate -l json -d 'Print machine-readable JSON with stable keys'
complete -c streamgate -s h -l help -d 'Print help and exit'

complete -c streamgate -n __streamgate_needs_command -a version -d 'Print the version, git commit, build type and library versions'
complete -c streamgate -n __streamgate_needs_command -a config -d 'Check and show the configuration'

# streamgate config validate [FILE] [--strict]
# streamgate config show [FILE] [--reveal]
set -l __streamgate_config_new '__fish_seen_subcommand_from config; and not __fish_seen_subcommand_from validate show'
complete -c streamgate -n $__streamgate_config_new -a validate -d 'Check a configuration file and report every problem (no daemon needed)'
complete -c streamgate -n $__streamgate_config_new -a show -d 'Print the merged configuration and where each value came from'
complete -c streamgate -n '__fish_seen_subcommand_from config; and __fish_seen_subcommand_from validate show' -F
complete -c streamgate -n '__fish_seen_subcommand_from config; and __fish_seen_subcommand_from validate' -l strict -d 'Fail on warnings too'
complete -c streamgate -n '__fish_seen_subcommand_from config; and __fish_seen_subcommand_from show' -l reveal -d 'Print secrets instead of <redacted>'

# The keys of streamgate.yaml(5), each followed by '=', for `streamgated --set KEY=VALUE`; kept
# in step with config/schema.cpp.
function __streamgated_keys
  printf '%s=\n' \
    app.name app.mode app.port app.debug \
    server.host server.port server.read_timeout server.write_timeout \
    grpc.port consul.address consul.port \
    database.host database.port database.user database.password database.database \
    database.sslmode database.maxconns \
    redis.host redis.port redis.password redis.db redis.poolsize \
    storage.type storage.path storage.endpoint storage.accesskey storage.secretkey \
    storage.bucket storage.region \
    nats.url web3.ethereum_rpc web3.solana_rpc web3.chain_id \
    monitoring.prometheus_port monitoring.jaeger_endpoint monitoring.log_level \
    plugins.enabled plugins.restart plugins.restart_limit plugins.restart_backoff plugins.restart_backoff_max \
    logging.level logging.format logging.file logging.max_size logging.max_files logging.ring_size \
    control.endpoint \
    daemon.shutdown_timeout daemon.plugin_timeout daemon.health_timeout
end

# streamgated [options]
complete -c streamgated -f
complete -c streamgated -s c -l config -r -F -d 'Configuration file (default: search, see streamgated(8))'
complete -c streamgated -l mode -x -a 'monolith\t"Every plugin in one process" microservice\t"One service per process"' -d 'monolith or microservice (app.mode)'
complete -c streamgated -l service -x -a 'api-gateway upload transcoder streaming metadata cache auth worker monitor' -d 'In microservice mode, the one service to run'
complete -c streamgated -l log-level -x -a 'trace debug info warn error critical off' -d 'Lowest level logged (logging.level)'
complete -c streamgated -l log-format -x -a 'dev\t"For people, coloured on a terminal" prod\t"Tab-separated" json\t"One object a line"' -d 'Log format (logging.format)'
complete -c streamgated -l set -x -a '(__streamgated_keys)' -d 'Set any key, as SECTION.KEY=VALUE'
complete -c streamgated -l version -d 'Print the version and exit'
complete -c streamgated -s h -l help -d 'Print help and exit'
