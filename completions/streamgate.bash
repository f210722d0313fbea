# bash completion for streamgate(1) and streamgated(8)          -*- shell-script -*-
#
# Installed as bash-completion/completions/streamgate. Works with the bash-completion package
# (which loads it on demand) and without it (source this file from ~/.bashrc).

# The keys of streamgate.yaml(5), for `streamgated --set KEY=VALUE`; kept in step with
# config/schema.cpp.
_streamgate_keys="app.name app.mode app.port app.debug
server.host server.port server.read_timeout server.write_timeout
grpc.port consul.address consul.port
database.host database.port database.user database.password database.database
database.sslmode database.maxconns
redis.host redis.port redis.password redis.db redis.poolsize
storage.type storage.path storage.endpoint storage.accesskey storage.secretkey
storage.bucket storage.region
nats.url web3.ethereum_rpc web3.solana_rpc web3.chain_id
monitoring.prometheus_port monitoring.jaeger_endpoint monitoring.log_level
plugins.enabled plugins.restart plugins.restart_limit plugins.restart_backoff plugins.restart_backoff_max
logging.level logging.format logging.file logging.max_size logging.max_files logging.ring_size
control.endpoint
daemon.shutdown_timeout daemon.plugin_timeout daemon.health_timeout"

# Sets cur, prev, words and cword, with "--opt=value" split into prev=--opt, cur=value.
_streamgate_init() {
  if declare -F _init_completion >/dev/null 2>&1; then
    _init_completion -s || return 1
    return 0
  fi
  COMPREPLY=()
  words=("${COMP_WORDS[@]}")
  cword=$COMP_CWORD
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

_streamgate() {
  local cur prev words cword split
  _streamgate_init || return

  case $prev in
    -c | --config)
      _streamgate_files
      return
      ;;
  esac

  # Find the command, the config subcommand and whether a FILE was given, skipping options.
  local i word command="" subcommand="" files=0
  for ((i = 1; i < cword; i++)); do
    word=${words[i]}
    case $word in
      -c | --config)
        [[ ${words[i + 1]} == = ]] && ((i++))
        ((i++))
        ;;
      -*) ;;
      *)
        if [[ -z $command ]]; then
          command=$word
        elif [[ $command == config && -z $subcommand ]]; then
          subcommand=$word
        else
          ((files++))
        fi
        ;;
    esac
  done

  case $command in
    "")
      if [[ $cur == -* ]]; then
        _streamgate_words "-c --config --json -h --help"
      else
        _streamgate_words "version config"
      fi
      ;;
    version)
      _streamgate_words "--json -h --help"
      ;;
    config)
      case $subcommand in
        "")
          if [[ $cur == -* ]]; then
            _streamgate_words "--json -h --help"
          else
            _streamgate_words "validate show"
          fi
          ;;
        validate | show)
          local flag=--strict
          [[ $subcommand == show ]] && flag=--reveal
          if [[ $cur == -* ]]; then
            _streamgate_words "$flag --json -h --help"
          elif ((files == 0)); then
            _streamgate_files
          fi
          ;;
      esac
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
      _streamgate_words "api-gateway upload transcoder streaming metadata cache auth worker monitor"
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
