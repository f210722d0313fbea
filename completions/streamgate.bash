# bash completion for streamgate(1) and streamgated(8)          -*- shell-script -*-
#
# Installed as bash-completion/completions/streamgate. Works with the bash-completion package
# (which loads it on demand) and without it (source this file from ~/.bashrc).

# The keys of streamgate.yaml(5), for `streamgated --set KEY=VALUE`, from the schema.
# BEGIN GENERATED configuration keys (streamgate-config-keys; regenerate with: cmake --build build/dev --target config_keys_update)
_streamgate_keys="app.name app.mode app.port app.debug
grpc.port
consul.address consul.port
database.host database.port database.user database.password database.database database.sslmode database.maxconns
storage.type storage.path storage.endpoint storage.accesskey storage.secretkey storage.bucket storage.region
nats.url nats.urls nats.user nats.password nats.token nats.tls_ca nats.tls_cert nats.tls_key nats.subject_prefix nats.reconnect_wait nats.max_reconnects nats.reconnect_buffer nats.request_timeout nats.heartbeat_interval
web3.ethereum_rpc web3.rpc_fallbacks web3.rpc_timeout web3.solana_rpc web3.chain_id web3.gate_contract web3.gate_standard web3.gate_token_id web3.ownership_ttl
plugins.enabled plugins.restart plugins.restart_limit plugins.restart_backoff plugins.restart_backoff_max
logging.level logging.format logging.file logging.max_size logging.max_files logging.ring_size
control.endpoint control.curve_server_key control.curve_authorized_keys control.curve_client_key
daemon.shutdown_timeout daemon.plugin_timeout daemon.blocking_threads daemon.blocking_queue daemon.health_timeout
server.host server.port server.read_timeout server.write_timeout server.idle_timeout server.io_threads server.max_header_bytes server.max_header_fields server.max_body_bytes server.max_connections server.access_log server.web_root
cache.backend cache.max_bytes cache.default_ttl cache.shards cache.local_fallback
redis.host redis.port redis.password redis.db redis.poolsize redis.timeout
monitoring.prometheus_port monitoring.jaeger_endpoint monitoring.log_level
metadata.engine metadata.sqlite_path metadata.retry_interval metadata.max_body_size
worker.concurrency worker.max_attempts worker.lease worker.poll_interval worker.backoff_base worker.backoff_max worker.gc_interval
upload.max_size upload.expiry upload.max_concurrent_per_client upload.sync_every upload.lock_wait upload.cors_origins
transcoder.concurrency transcoder.ladder transcoder.encoder transcoder.preset transcoder.audio_bitrate transcoder.segment_duration transcoder.nice transcoder.timeout transcoder.max_dimension transcoder.ffmpeg transcoder.ffprobe transcoder.work_dir
streaming.playlist_max_age streaming.state_ttl streaming.cache_max_object streaming.cache_ttl streaming.cors_origins
auth.required auth.keys_file auth.token_ttl auth.capability_ttl auth.key_overlap auth.siwe_domain auth.siwe_uris auth.nonce_ttl auth.siwe_max_age"
# END GENERATED configuration keys

# Sets cur, prev, words and cword, with "--opt=value" split into prev=--opt, cur=value.
_streamgate_init() {
  # Endpoints (ipc://..., tcp://host:port) hold colons, which readline splits words at: -n :
  # keeps them whole.
  if declare -F _init_completion >/dev/null 2>&1; then
    _init_completion -s -n : || return 1
    return 0
  fi
  COMPREPLY=()
  # Without bash-completion, join the pieces readline split at ':' back into one word.
  words=()
  cword=0
  local k
  for ((k = 0; k < ${#COMP_WORDS[@]}; k++)); do
    if ((k > 0)) && [[ ${COMP_WORDS[k]} == : || ${COMP_WORDS[k - 1]} == : ]]; then
      words[${#words[@]} - 1]+=${COMP_WORDS[k]}
    else
      words+=("${COMP_WORDS[k]}")
    fi
    ((k == COMP_CWORD)) && cword=$((${#words[@]} - 1))
  done
  cur=${words[cword]}
  prev=${words[cword - 1]}
  # Without bash-completion, COMP_WORDBREAKS splits "--opt=value" into three words.
  if [[ $cur == = ]]; then
    cur=
  elif [[ $prev == = ]] && ((cword >= 2)); then
    prev=${words[cword - 2]}
  fi
  return 0
}

# Completes words from a list.
_streamgate_words() {
  mapfile -t COMPREPLY < <(compgen -W "$1" -- "$cur")
}

# Completes file names.
_streamgate_files() {
  if declare -F _filedir >/dev/null 2>&1; then
    _filedir
  else
    compopt -o filenames 2>/dev/null
    mapfile -t COMPREPLY < <(compgen -f -- "$cur")
  fi
}

# The nine services, which are also the plugin names.
_streamgate_services="api-gateway upload transcoder streaming metadata cache auth worker monitor"

# Completes the names of the running daemon's plugins, asked live with
# `streamgate plugins list -q`, passing on the --config, --endpoint and --service typed on the
# line. Prints nothing (so offers nothing) when no daemon is running.
_streamgate_plugins() {
  local prog=${words[0]}
  [[ $prog == */* && -x $prog ]] || prog=streamgate
  local -a conn=()
  [[ -n $sg_config ]] && conn+=(--config "${sg_config/#\~/$HOME}")
  [[ -n $sg_endpoint ]] && conn+=(--endpoint "$sg_endpoint")
  [[ -n $sg_service ]] && conn+=(--service "$sg_service")
  local names
  names=$("$prog" "${conn[@]}" --timeout 1 plugins list -q 2>/dev/null)
  _streamgate_words "$names"
}

# What streamgate offers at each command path ("streamgate", "streamgate plugins", ...): its
# subcommands, and the options TAB offers there (after a command, its own and --json). Whole
# lists, checked against the CLI by tests/unit/cli/completions_test.cpp.
declare -gA _streamgate_subcommands=(
  [streamgate]="start stop status plugins health config logs log-level keys services videos jobs auth upload version"
  ["streamgate plugins"]="list start stop restart"
  ["streamgate config"]="validate show reload"
  ["streamgate keys"]="generate"
  ["streamgate videos"]="list show watch delete"
  ["streamgate jobs"]="list show retry cancel"
  ["streamgate auth"]="keys token rotate"
  ["streamgate auth keys"]="create list revoke"
)
declare -gA _streamgate_options=(
  [streamgate]="-c --config --endpoint --service --timeout --json -h --help"
  ["streamgate start"]="--mode --service --log-file --foreground --json -h --help"
  ["streamgate stop"]="--timeout --force --json -h --help"
  ["streamgate status"]="--json -h --help"
  ["streamgate plugins"]="--json -h --help"
  ["streamgate plugins list"]="-q --quiet --json -h --help"
  ["streamgate plugins start"]="--json -h --help"
  ["streamgate plugins stop"]="--cascade --json -h --help"
  ["streamgate plugins restart"]="--cascade --json -h --help"
  ["streamgate health"]="--wait --timeout --json -h --help"
  ["streamgate config"]="--json -h --help"
  ["streamgate config validate"]="--strict --json -h --help"
  ["streamgate config show"]="--reveal --json -h --help"
  ["streamgate config reload"]="--json -h --help"
  ["streamgate logs"]="-n --lines -f --follow --level --plugin --exclude-plugin --grep --since --json -h --help"
  ["streamgate log-level"]="--plugin --for --json -h --help"
  ["streamgate keys"]="--json -h --help"
  ["streamgate keys generate"]="--force --json -h --help"
  ["streamgate services"]="--json -h --help"
  ["streamgate videos"]="--json -h --help"
  ["streamgate videos list"]="--state --owner --limit --cursor --json -h --help"
  ["streamgate videos show"]="--json -h --help"
  ["streamgate videos delete"]="-y --yes --json -h --help"
  ["streamgate videos watch"]="--timeout --url --json -h --help"
  ["streamgate jobs"]="--json -h --help"
  ["streamgate jobs list"]="--state --kind --limit --json -h --help"
  ["streamgate jobs show"]="--json -h --help"
  ["streamgate jobs retry"]="--json -h --help"
  ["streamgate jobs cancel"]="--json -h --help"
  ["streamgate auth"]="--json -h --help"
  ["streamgate auth keys"]="--json -h --help"
  ["streamgate auth keys create"]="--name --owner --scope --json -h --help"
  ["streamgate auth keys list"]="--json -h --help"
  ["streamgate auth keys revoke"]="--json -h --help"
  ["streamgate auth token"]="--scope --ttl --json -h --help"
  ["streamgate auth rotate"]="--json -h --help"
  ["streamgate upload"]="--title --description --visibility --wait --timeout --chunk-size --limit-rate --token --url --no-resume --json -h --help"
  ["streamgate version"]="--json -h --help"
)

_streamgate() {
  local cur prev words cword split
  _streamgate_init || return

  # Find the command path and the positional arguments, skipping options and their values;
  # remember --config, --endpoint and the global --service (not start's own) for asking the
  # daemon.
  local i word path=streamgate args=0 sg_config="" sg_endpoint="" sg_service=""
  for ((i = 1; i < cword; i++)); do
    word=${words[i]}
    case $word in
      -c | --config | --endpoint | --timeout | -n | --lines | --level | --plugin | --exclude-plugin | \
        --grep | --since | --for | --mode | --service | --log-file | --state | --owner | --limit | \
        --cursor | --kind | --title | --description | --visibility | --chunk-size | --limit-rate | --url | \
        --name | --scope | --ttl | --token)
        local value_at=$((i + 1))
        [[ ${words[value_at]} == = ]] && ((value_at++))
        if ((value_at < cword)); then
          case $word in
            -c | --config) sg_config=${words[value_at]} ;;
            --endpoint) sg_endpoint=${words[value_at]} ;;
            --service) [[ $path != "streamgate start" ]] && sg_service=${words[value_at]} ;;
          esac
        fi
        i=$value_at
        ;;
      --config=*) sg_config=${word#*=} ;;
      --endpoint=*) sg_endpoint=${word#*=} ;;
      --service=*) [[ $path != "streamgate start" ]] && sg_service=${word#*=} ;;
      -*) ;;
      *)
        if [[ -n ${_streamgate_subcommands[$path]} ]]; then
          path+=" $word"
        else
          ((args++))
        fi
        ;;
    esac
  done

  # The value of an option.
  case $prev in
    -c | --config | --log-file)
      _streamgate_files
      return
      ;;
    --endpoint | --timeout | -n | --lines | --grep | --since | --for | --owner | --limit | --cursor | \
      --title | --description | --chunk-size | --limit-rate | --url | --name | --ttl | --token)
      return
      ;;
    --scope)
      _streamgate_words "videos:write videos:read"
      return
      ;;
    --visibility)
      _streamgate_words "public unlisted private gated"
      return
      ;;
    --state)
      if [[ $path == "streamgate videos list" ]]; then
        _streamgate_words "uploading uploaded queued processing ready failed deleted"
      else
        _streamgate_words "queued running succeeded dead cancelled"
      fi
      return
      ;;
    --kind)
      _streamgate_words "transcode delete-video gc-orphans expire-uploads"
      return
      ;;
    --mode)
      _streamgate_words "monolith microservice"
      return
      ;;
    --service)
      _streamgate_words "$_streamgate_services"
      return
      ;;
    --level)
      _streamgate_words "trace debug info warn error critical"
      return
      ;;
    --plugin | --exclude-plugin)
      _streamgate_plugins
      return
      ;;
  esac

  if [[ $cur == -* ]]; then
    _streamgate_words "${_streamgate_options[$path]}"
    return
  fi
  if [[ -n ${_streamgate_subcommands[$path]} ]]; then
    _streamgate_words "${_streamgate_subcommands[$path]}"
    return
  fi
  # The positional arguments.
  case $path in
    "streamgate plugins start" | "streamgate plugins stop" | "streamgate plugins restart")
      _streamgate_plugins
      ;;
    "streamgate config validate" | "streamgate config show")
      ((args == 0)) && _streamgate_files
      ;;
    "streamgate upload")
      ((args == 0)) && _streamgate_files
      ;;
    "streamgate log-level")
      ((args == 0)) && _streamgate_words "trace debug info warn warning error critical off"
      ;;
    "streamgate keys generate")
      if ((args == 0)); then
        if declare -F _filedir >/dev/null 2>&1; then
          _filedir -d
        else
          compopt -o filenames 2>/dev/null
          mapfile -t COMPREPLY < <(compgen -d -- "$cur")
        fi
      fi
      ;;
  esac
}

_streamgated() {
  local cur prev words cword split
  _streamgate_init || return

  case $prev in
    -c | --config)
      _streamgate_files
      return
      ;;
    --mode)
      _streamgate_words "monolith microservice"
      return
      ;;
    --service)
      _streamgate_words "$_streamgate_services"
      return
      ;;
    --log-level)
      _streamgate_words "trace debug info warn error critical off"
      return
      ;;
    --log-format)
      _streamgate_words "dev prod json"
      return
      ;;
    --set)
      # KEY=VALUE: complete the key and its '=', then leave the value to the user.
      if [[ $cur != *=* ]]; then
        local key
        COMPREPLY=()
        for key in $_streamgate_keys; do
          [[ $key == "$cur"* ]] && COMPREPLY+=("$key=")
        done
        compopt -o nospace 2>/dev/null
      fi
      return
      ;;
  esac

  if [[ $cur == -* ]]; then
    _streamgate_words "-c --config --mode --service --log-level --log-format --set --version -h --help"
  fi
}

complete -F _streamgate streamgate
complete -F _streamgated streamgated
