# fish completion for streamgate(1) and streamgated(8)
#
# Installed as fish/vendor_completions.d/streamgate.fish. fish loads it on demand for
# streamgate; source it (or link it as streamgated.fish) for streamgated.
#
# tests/unit/cli/completions_test.cpp checks the subcommands and options offered at each command
# path against the CLI, whole lists both ways; it takes a `-a` of one bare word for a subcommand.

# The words of the command line that are not options or option values: the command, its
# subcommand and their arguments.
function __streamgate_positionals
  set -l tokens (commandline -opc)
  set -e tokens[1]
  set -l skip 0
  for token in $tokens
    if test $skip -eq 1
      set skip 0
      continue
    end
    switch $token
      case -c --config --endpoint --timeout -n --lines --level --plugin --exclude-plugin --grep --since --for --mode --service --log-file --state --owner --limit --cursor --kind --title --description --visibility --chunk-size --limit-rate --url --name --scope --ttl --token
        set skip 1
      case '-*'
      case '*'
        echo $token
    end
  end
end

# True while no command has been typed yet.
function __streamgate_needs_command
  test (count (__streamgate_positionals)) -eq 0
end

# True when the positional words are exactly the arguments: `__streamgate_at plugins` while the
# plugins subcommand is still to be typed.
function __streamgate_at
  set -l words (__streamgate_positionals)
  test "$words" = "$argv"
end

# True when the positional words start with the arguments: `__streamgate_in plugins stop`.
function __streamgate_in
  set -l words (__streamgate_positionals)
  test (count $words) -ge (count $argv); or return 1
  for i in (seq (count $argv))
    test "$words[$i]" = "$argv[$i]"; or return 1
  end
end

# The running daemon's plugin names, asked live with `streamgate plugins list -q`, passing on the
# --config, --endpoint and --service typed on the line. Prints nothing when no daemon is running.
function __streamgate_plugins
  set -l tokens (commandline -opc)
  set -l prog $tokens[1]
  string match -q -- '*/*' $prog; and test -x $prog; or set prog streamgate
  set -e tokens[1]
  set -l conn
  set -l take ''
  for token in $tokens
    if test -n "$take"
      set -a conn $take $token
      set take ''
      continue
    end
    switch $token
      case -c --config
        set take --config
      case --endpoint
        set take --endpoint
      case --service
        set take --service
      case '--config=*' '--endpoint=*' '--service=*'
        set -a conn (string split -m 1 = -- $token)
    end
  end
  $prog $conn --timeout 1 plugins list -q 2>/dev/null
end

# streamgate [-c FILE] [--endpoint ENDPOINT] [--service NAME] [--timeout SECONDS] [--json] COMMAND
complete -c streamgate -f
complete -c streamgate -n __streamgate_needs_command -s c -l config -r -F -d 'Configuration file to use (default: $STREAMGATE_CONFIG, else the search path)'
complete -c streamgate -n __streamgate_needs_command -l endpoint -x -d 'Control endpoint of the daemon (default: $STREAMGATE_ENDPOINT, else control.endpoint)'
complete -c streamgate -n __streamgate_needs_command -l service -x -a 'api-gateway upload transcoder streaming metadata cache auth worker monitor' -d 'Talk to this service of a microservice deployment (its own control socket)'
complete -c streamgate -n __streamgate_needs_command -l timeout -x -d "Seconds to wait for the daemon's answer (default 5)"
complete -c streamgate -l json -d 'Print machine-readable JSON with stable keys'
complete -c streamgate -s h -l help -d 'Print help and exit'

complete -c streamgate -n __streamgate_needs_command -a start -d 'Start streamgated in the background and wait until it is ready'
complete -c streamgate -n __streamgate_needs_command -a stop -d 'Stop the daemon gracefully and wait until it is gone'
complete -c streamgate -n __streamgate_needs_command -a status -d 'Show the daemon and a line per plugin'
complete -c streamgate -n __streamgate_needs_command -a plugins -d 'List, start, stop and restart plugins'
complete -c streamgate -n __streamgate_needs_command -a health -d 'Overall and per-plugin health; exit 0 healthy, 1 degraded, 2 unhealthy, 3 no daemon'
complete -c streamgate -n __streamgate_needs_command -a config -d 'Check, show and reload the configuration'
complete -c streamgate -n __streamgate_needs_command -a logs -d "Show the daemon's recent log records, across all plugins"
complete -c streamgate -n __streamgate_needs_command -a log-level -d "Show or set the daemon's log level"
complete -c streamgate -n __streamgate_needs_command -a keys -d 'Make CURVE keys for a tcp control endpoint'
complete -c streamgate -n __streamgate_needs_command -a services -d 'List the live instances of a microservice deployment'
complete -c streamgate -n __streamgate_needs_command -a videos -d 'List, show, watch and delete videos of the catalogue'
complete -c streamgate -n __streamgate_needs_command -a jobs -d 'List, show, retry and cancel jobs of the queue'
complete -c streamgate -n __streamgate_needs_command -a auth -d 'API keys, tokens and signing keys (the auth plugin)'
complete -c streamgate -n __streamgate_needs_command -a upload -d 'Upload a video file (tus, resumable: run the same command again to resume)'
complete -c streamgate -n __streamgate_needs_command -a version -d 'Print the version, git commit, build type and library versions'

# streamgate start [--mode MODE] [--service NAME] [--log-file FILE] [--foreground]
complete -c streamgate -n '__streamgate_in start' -l mode -x -a 'monolith\t"Every plugin in one process" microservice\t"One service per process"' -d 'monolith or microservice'
complete -c streamgate -n '__streamgate_in start' -l service -x -a 'api-gateway upload transcoder streaming metadata cache auth worker monitor' -d 'In microservice mode, the service to run'
complete -c streamgate -n '__streamgate_in start' -l log-file -r -F -d "Where the daemon's output goes (default: streamgated.log in the runtime directory)"
complete -c streamgate -n '__streamgate_in start' -l foreground -d 'Run in this terminal instead of detaching'

# streamgate stop [--timeout SECONDS] [--force]
complete -c streamgate -n '__streamgate_in stop' -l timeout -x -d 'Seconds to wait for it to stop (default 45)'
complete -c streamgate -n '__streamgate_in stop' -l force -d 'Kill it if it has not stopped in time'

# streamgate plugins list [-q] | start NAME... | stop [--cascade] NAME... | restart [--cascade] NAME...
complete -c streamgate -n '__streamgate_at plugins' -a list -d 'Every plugin with its state, uptime and restarts'
complete -c streamgate -n '__streamgate_at plugins' -a start -d 'Start stopped or failed plugins'
complete -c streamgate -n '__streamgate_at plugins' -a stop -d 'Stop plugins; refused while others need them'
complete -c streamgate -n '__streamgate_at plugins' -a restart -d 'Stop then start plugins'
complete -c streamgate -n '__streamgate_in plugins list' -s q -l quiet -d 'Print only the names'
complete -c streamgate -n '__streamgate_in plugins start; or __streamgate_in plugins stop; or __streamgate_in plugins restart' -a '(__streamgate_plugins)' -d 'Plugin'
complete -c streamgate -n '__streamgate_in plugins stop; or __streamgate_in plugins restart' -l cascade -d 'Also stop (and restart) the plugins that depend on them'

# streamgate health [--wait [--timeout SECONDS]]
complete -c streamgate -n '__streamgate_in health' -l wait -d 'Wait until healthy (or the timeout), polling'
complete -c streamgate -n '__streamgate_in health' -l timeout -x -d 'With --wait, seconds to wait (default 60)'

# streamgate config validate [FILE] [--strict] | show [FILE] [--reveal] | reload
complete -c streamgate -n '__streamgate_at config' -a validate -d 'Check a configuration file and report every problem (no daemon needed)'
complete -c streamgate -n '__streamgate_at config' -a show -d 'Print the merged configuration and where each value came from'
complete -c streamgate -n '__streamgate_at config' -a reload -d "Reload the running daemon's configuration, all or nothing"
complete -c streamgate -n '__streamgate_at config validate; or __streamgate_at config show' -F
complete -c streamgate -n '__streamgate_in config validate' -l strict -d 'Fail on warnings too'
complete -c streamgate -n '__streamgate_in config show' -l reveal -d 'Print secrets instead of <redacted>'

# streamgate logs [-n N] [-f] [--level L] [--plugin P]... [--exclude-plugin P]... [--grep RE] [--since T]
complete -c streamgate -n '__streamgate_in logs' -s n -l lines -x -d 'Show only the last N records (with -f, default 10)'
complete -c streamgate -n '__streamgate_in logs' -s f -l follow -d 'Keep printing new records as they come'
complete -c streamgate -n '__streamgate_in logs' -l level -x -a 'trace debug info warn error critical' -d "Only records at this level or above; the daemon's own level is unchanged"
complete -c streamgate -n '__streamgate_in logs' -l plugin -x -a '(__streamgate_plugins)' -d 'Only records of this component (repeatable)'
complete -c streamgate -n '__streamgate_in logs' -l exclude-plugin -x -a '(__streamgate_plugins)' -d 'Leave out this component (repeatable)'
complete -c streamgate -n '__streamgate_in logs' -l grep -x -d 'Only records matching this regular expression (case-insensitive)'
complete -c streamgate -n '__streamgate_in logs' -l since -x -d 'Only records newer than a duration ago (10m, 2h, 1d) or a UTC time'

# streamgate log-level [LEVEL] [--plugin P] [--for DURATION]
complete -c streamgate -n '__streamgate_at log-level' -a 'trace debug info warn warning error critical off' -d 'Log level'
complete -c streamgate -n '__streamgate_in log-level' -l plugin -x -a '(__streamgate_plugins)' -d 'Set it for this component only'
complete -c streamgate -n '__streamgate_in log-level' -l for -x -d 'Revert after this long (90s, 10m, 2h)'

# streamgate keys generate [DIR] [--force]
complete -c streamgate -n '__streamgate_at keys' -a generate -d 'Write server.key, server.pub, client.key and authorized_keys into DIR'
complete -c streamgate -n '__streamgate_at keys generate' -a '(__fish_complete_directories)' -d 'Directory'
complete -c streamgate -n '__streamgate_in keys generate' -l force -d 'Replace existing files'

# streamgate videos list [--state S] [--owner O] [--limit N] [--cursor C] | show ID | watch ID [--timeout S] [--url U] | delete [-y] ID
complete -c streamgate -n '__streamgate_at videos' -a list -d 'A page of videos, newest first'
complete -c streamgate -n '__streamgate_at videos' -a show -d "One video's record"
complete -c streamgate -n '__streamgate_at videos' -a watch -d "Follow a video's state and transcoding progress until it is ready or failed"
complete -c streamgate -n '__streamgate_at videos' -a delete -d 'Mark a video deleted; a job then deletes its storage objects'
complete -c streamgate -n '__streamgate_in videos list' -l state -x -a 'uploading uploaded queued processing ready failed deleted' -d 'Only videos in this state'
complete -c streamgate -n '__streamgate_in videos list' -l owner -x -d "Only this owner's videos"
complete -c streamgate -n '__streamgate_in videos list' -l limit -x -d 'Videos on the page (1 to 200; default 20)'
complete -c streamgate -n '__streamgate_in videos list' -l cursor -x -d 'Where the page starts: the cursor the previous page ended with'
complete -c streamgate -n '__streamgate_in videos watch' -l timeout -x -d 'Seconds to wait (default 3600)'
complete -c streamgate -n '__streamgate_in videos watch' -l url -x -d "The daemon's HTTP base URL (default: the listener its status names)"
complete -c streamgate -n '__streamgate_in videos delete' -s y -l yes -d 'Do not ask for confirmation'

# streamgate upload FILE [--title T] [--description D] [--visibility V] [--wait [--timeout S]]
#   [--chunk-size SIZE] [--limit-rate RATE] [--url URL] [--no-resume]
complete -c streamgate -n '__streamgate_at upload' -F
complete -c streamgate -n '__streamgate_in upload' -l title -x -d "The video's title"
complete -c streamgate -n '__streamgate_in upload' -l description -x -d "The video's description"
complete -c streamgate -n '__streamgate_in upload' -l visibility -x -a 'public unlisted private gated' -d 'Who may see it'
complete -c streamgate -n '__streamgate_in upload' -l wait -d 'Then wait until the video is ready or failed'
complete -c streamgate -n '__streamgate_in upload' -l timeout -x -d 'With --wait, seconds to wait (default 3600)'
complete -c streamgate -n '__streamgate_in upload' -l chunk-size -x -d 'Bytes per PATCH request (default 8MiB)'
complete -c streamgate -n '__streamgate_in upload' -l limit-rate -x -d 'Send at most this many bytes a second (10M)'
complete -c streamgate -n '__streamgate_in upload' -l token -x -d "Bearer token for the upload (default: \$STREAMGATE_TOKEN, else the local operator's)"
complete -c streamgate -n '__streamgate_in upload' -l url -x -d "The daemon's HTTP base URL (default: the listener its status names)"
complete -c streamgate -n '__streamgate_in upload' -l no-resume -d 'Start afresh even if an earlier upload of this file can be resumed'

# streamgate jobs list [--state S] [--kind K] [--limit N] | show ID | retry ID | cancel ID
complete -c streamgate -n '__streamgate_at jobs' -a list -d 'Jobs, newest first'
complete -c streamgate -n '__streamgate_at jobs' -a show -d 'One job, with its payload, attempts and lease'
complete -c streamgate -n '__streamgate_at jobs' -a retry -d 'Queue a dead or cancelled job again'
complete -c streamgate -n '__streamgate_at jobs' -a cancel -d 'Cancel a queued or running job'
complete -c streamgate -n '__streamgate_in jobs list' -l state -x -a 'queued running succeeded dead cancelled' -d 'Only jobs in this state'
complete -c streamgate -n '__streamgate_in jobs list' -l kind -x -a 'transcode delete-video gc-orphans expire-uploads' -d 'Only jobs of this kind'
complete -c streamgate -n '__streamgate_in jobs list' -l limit -x -d 'Most jobs to list (1 to 1000; default 100)'

# streamgate auth keys create --name N [--owner O] [--scope S] | keys list | keys revoke ID | token [--scope S] [--ttl N] | rotate
complete -c streamgate -n '__streamgate_at auth' -a keys -d 'Make, list and revoke API keys'
complete -c streamgate -n '__streamgate_at auth' -a token -d 'Print a token for the local operator'
complete -c streamgate -n '__streamgate_at auth' -a rotate -d 'Make a new signing key for tokens and URLs'
complete -c streamgate -n '__streamgate_at auth keys' -a create -d 'Make an API key; it is printed once'
complete -c streamgate -n '__streamgate_at auth keys' -a list -d 'API keys, without their secrets'
complete -c streamgate -n '__streamgate_at auth keys' -a revoke -d 'Revoke an API key'
complete -c streamgate -n '__streamgate_in auth keys create' -l name -x -d 'What uses the key (ci-uploader)'
complete -c streamgate -n '__streamgate_in auth keys create' -l owner -x -d 'Whose videos its uploads are (default: key:ID)'
complete -c streamgate -n '__streamgate_in auth keys create; or __streamgate_in auth token' -l scope -x -a 'videos:write videos:read' -d 'Scopes, space-separated'
complete -c streamgate -n '__streamgate_in auth token' -l ttl -x -d 'Seconds it is good for (60 to 86400)'

# The keys of streamgate.yaml(5), each followed by '=', for `streamgated --set KEY=VALUE`, from
# the schema.
# BEGIN GENERATED configuration keys (streamgate-config-keys; regenerate with: cmake --build build/dev --target config_keys_update)
function __streamgated_keys
  printf '%s=\n' \
    app.name app.mode app.port app.debug \
    grpc.port \
    consul.address consul.port \
    database.host database.port database.user database.password database.database database.sslmode database.maxconns \
    storage.type storage.path storage.endpoint storage.accesskey storage.secretkey storage.bucket storage.region \
    nats.url nats.urls nats.user nats.password nats.token nats.tls_ca nats.tls_cert nats.tls_key nats.subject_prefix nats.reconnect_wait nats.max_reconnects nats.reconnect_buffer nats.request_timeout nats.heartbeat_interval \
    web3.ethereum_rpc web3.rpc_fallbacks web3.rpc_timeout web3.solana_rpc web3.chain_id web3.gate_contract web3.gate_standard web3.gate_token_id web3.ownership_ttl \
    plugins.enabled plugins.restart plugins.restart_limit plugins.restart_backoff plugins.restart_backoff_max \
    logging.level logging.format logging.file logging.max_size logging.max_files logging.ring_size \
    control.endpoint control.curve_server_key control.curve_authorized_keys control.curve_client_key \
    daemon.shutdown_timeout daemon.plugin_timeout daemon.blocking_threads daemon.blocking_queue daemon.health_timeout \
    server.host server.port server.read_timeout server.write_timeout server.idle_timeout server.io_threads server.max_header_bytes server.max_header_fields server.max_body_bytes server.max_connections server.access_log server.web_root \
    cache.backend cache.max_bytes cache.default_ttl cache.shards cache.local_fallback \
    redis.host redis.port redis.password redis.db redis.poolsize redis.timeout \
    monitoring.prometheus_port monitoring.jaeger_endpoint monitoring.log_level \
    metadata.engine metadata.sqlite_path metadata.retry_interval metadata.max_body_size \
    worker.concurrency worker.max_attempts worker.lease worker.poll_interval worker.backoff_base worker.backoff_max worker.gc_interval \
    upload.max_size upload.expiry upload.max_concurrent_per_client upload.sync_every upload.lock_wait upload.cors_origins \
    transcoder.concurrency transcoder.ladder transcoder.encoder transcoder.preset transcoder.audio_bitrate transcoder.segment_duration transcoder.nice transcoder.timeout transcoder.max_dimension transcoder.ffmpeg transcoder.ffprobe transcoder.work_dir \
    streaming.playlist_max_age streaming.state_ttl streaming.cache_max_object streaming.cache_ttl streaming.cors_origins \
    auth.required auth.keys_file auth.token_ttl auth.capability_ttl auth.key_overlap auth.siwe_domain auth.siwe_uris auth.nonce_ttl auth.siwe_max_age
end
# END GENERATED configuration keys

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
