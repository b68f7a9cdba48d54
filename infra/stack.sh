#!/usr/bin/env bash
# Start, stop or query the local stack's own processes, without Docker: Prometheus (Debian's
# package), the worker (the engine, with Faust as its runtime) and the API. Kafka and Redis have their own scripts; `make up` runs
# them, `streamwise topics create`, then this; `make down` stops it all in reverse order.
#   infra/stack.sh start|stop|status
# Logs go to $STREAMWISE_RUN_DIR/logs/<name>.log, pid files to $STREAMWISE_RUN_DIR/<name>.pid
# (default <repo>/.run). Starting twice is fine; stop only stops what a pid file says this script
# started. Ports: STREAMWISE_API_PORT (8000), STREAMWISE_METRICS_PORT (9464), STREAMWISE_WEB_PORT
# (6066, Faust's), STREAMWISE_PROMETHEUS_PORT (9090). A local development stack: without
# STREAMWISE_SNAPSHOT_KEY, STREAMWISE_DEV defaults to 1. Every other STREAMWISE_ setting passes through.
# start writes them all to $STREAMWISE_RUN_DIR/env (mode 600), with an admin API key made once and
# kept: the CLI and the API read .run/env from the repository root, so every command works against
# this stack as printed. The environment wins over the file.
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$here/.." && pwd)
run_dir=${STREAMWISE_RUN_DIR:-$root/.run}
logs_dir=$run_dir/logs
python=${STREAMWISE_PYTHON:-$root/.venv/bin/python}
api_port=${STREAMWISE_API_PORT:-8000}
metrics_port=${STREAMWISE_METRICS_PORT:-9464}
web_port=${STREAMWISE_WEB_PORT:-6066}
prometheus_port=${STREAMWISE_PROMETHEUS_PORT:-9090}
start_timeout=${STREAMWISE_STACK_START_TIMEOUT:-60}
stop_timeout=${STREAMWISE_STACK_STOP_TIMEOUT:-30}
names=(prometheus worker api) # start order; stop goes backwards

env_file=$run_dir/env
# The settings of the last start (the API key among them) for what the environment does not set.
if [[ -f $env_file ]]; then
  while IFS='=' read -r name value; do
    [[ $name == STREAMWISE_* && -z ${!name+set} ]] && export "$name=$value"
  done <"$env_file"
fi
export STREAMWISE_API_PORT=$api_port STREAMWISE_PROMETHEUS_PORT=$prometheus_port
export STREAMWISE_METRICS_PORT=$metrics_port STREAMWISE_WEB_PORT=$web_port
if [[ -z ${STREAMWISE_SNAPSHOT_KEY:-} ]]; then export STREAMWISE_DEV=${STREAMWISE_DEV:-1}; fi
# The worker runs in its own folder (Faust keeps <app-id>-data there): the config path must be absolute.
config=${STREAMWISE_CONFIG:-$root/config/models.yaml}
[[ $config == /* ]] || config=$PWD/$config
export STREAMWISE_CONFIG=$config

url_of() {
  case $1 in
    prometheus) echo "http://127.0.0.1:$prometheus_port/-/ready" ;;
    worker) if ((metrics_port)); then echo "http://127.0.0.1:$metrics_port/metrics"; else echo "http://127.0.0.1:$web_port/"; fi ;;
    api) echo "http://127.0.0.1:$api_port/healthz" ;;
  esac
}

# What /proc/<pid>/cmdline must contain for a pid file to be believed (pids are reused).
signature_of() {
  case $1 in
    prometheus) echo "prometheus --config.file=" ;;
    worker) echo "-m streams worker" ;;
    api) echo "-m streams api" ;;
  esac
}

pid_file() { echo "$run_dir/$1.pid"; }
log_file() { echo "$logs_dir/$1.log"; }
answers() { curl -fsS -o /dev/null --max-time 1 "$(url_of "$1")" 2>/dev/null; }

running_pid() {
  local file pid
  file=$(pid_file "$1")
  [[ -f $file ]] || return 1
  pid=$(cat "$file")
  [[ $pid =~ ^[0-9]+$ ]] && kill -0 "$pid" 2>/dev/null || return 1
  tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -qF -- "$(signature_of "$1")" || return 1
  echo "$pid"
}

prometheus_config() {
  local config=$here/prometheus/local.yml
  if ((metrics_port != 9464 || api_port != 8000)); then
    sed -e "s/127\.0\.0\.1:9464/127.0.0.1:$metrics_port/" -e "s/127\.0\.0\.1:8000/127.0.0.1:$api_port/" \
      "$config" >"$run_dir/prometheus.yml"
    config=$run_dir/prometheus.yml
  fi
  echo "$config"
}

# launch NAME DIR COMMAND...: run COMMAND in DIR in the background, its pid in NAME's pid file.
launch() {
  local name=$1 dir=$2
  shift 2
  mkdir -p "$dir" "$logs_dir"
  echo "=== stack.sh: $name starting at $(date -Is)" >>"$(log_file "$name")"
  (cd "$dir" && exec nohup "$@" >>"$(log_file "$name")" 2>&1 </dev/null) &
  echo $! >"$(pid_file "$name")"
}

spawn() {
  case $1 in
    prometheus)
      command -v prometheus >/dev/null || fail prometheus "Prometheus is needed (apt-get install prometheus)"
      launch prometheus "$run_dir" prometheus --config.file="$(prometheus_config)" \
        --storage.tsdb.path="$run_dir/prometheus" --web.listen-address="127.0.0.1:$prometheus_port"
      ;;
    worker) launch worker "$run_dir/worker" "$python" -m streams worker ;;
    api) launch api "$run_dir/api" "$python" -m streams api --host 127.0.0.1 --port "$api_port" ;;
  esac
}

fail() {
  echo "stack.sh: $1: $2" >&2
  local log
  log=$(log_file "$1")
  if [[ -s $log ]]; then
    echo "--- last lines of $log:" >&2
    tail -n 30 "$log" >&2
  fi
  exit 1
}

wait_ready() {
  local name=$1 pid=$2 url deadline=$((SECONDS + start_timeout))
  url=$(url_of "$name")
  while ((SECONDS < deadline)); do
    if answers "$name"; then
      echo "stack.sh: $name ready on $url (pid $pid, log $(log_file "$name"))"
      return
    fi
    if ! kill -0 "$pid" 2>/dev/null; then
      rm -f "$(pid_file "$name")"
      fail "$name" "exited during start-up"
    fi
    sleep 0.25
  done
  stop_one "$name" >/dev/null
  fail "$name" "did not answer on $url within ${start_timeout}s (stopped)"
}

start_one() {
  local name=$1 pid
  if pid=$(running_pid "$name"); then
    answers "$name" && { echo "stack.sh: $name already running (pid $pid)"; return; }
    wait_ready "$name" "$pid" # still starting
    return
  fi
  rm -f "$(pid_file "$name")"
  if answers "$name"; then
    fail "$name" "something not started by stack.sh answers on $(url_of "$name"); stop it or choose another port"
  fi
  spawn "$name"
  wait_ready "$name" "$(cat "$(pid_file "$name")")"
}

stop_one() {
  local name=$1 pid i
  if ! pid=$(running_pid "$name"); then
    rm -f "$(pid_file "$name")"
    echo "stack.sh: $name not running"
    return
  fi
  kill -TERM "$pid" 2>/dev/null || true
  for ((i = 0; i < stop_timeout * 10; i++)); do
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.1
  done
  if kill -0 "$pid" 2>/dev/null; then
    kill -KILL "$pid" 2>/dev/null || true
    echo "stack.sh: $name did not stop within ${stop_timeout}s: killed (pid $pid)"
  else
    echo "stack.sh: $name stopped (pid $pid)"
  fi
  rm -f "$(pid_file "$name")"
}

status_one() {
  local name=$1 pid
  if pid=$(running_pid "$name"); then
    if answers "$name"; then
      echo "stack.sh: $name running (pid $pid) on $(url_of "$name")"
    else
      echo "stack.sh: $name running (pid $pid) but not answering on $(url_of "$name")"
      return 1
    fi
  elif answers "$name"; then
    echo "stack.sh: $name answers on $(url_of "$name") (not started by stack.sh)"
  else
    echo "stack.sh: $name not running"
    return 1
  fi
}

write_env() {
  [[ -n ${STREAMWISE_API_KEY:-} ]] || export STREAMWISE_API_KEY=$(od -An -N16 -tx1 /dev/urandom | tr -d ' \n')
  (
    umask 077
    {
      echo "# The settings of the stack infra/stack.sh started ($(date -Is)); the CLI and the API read this file"
      echo "# (STREAMWISE_ENV_FILE, default .run/env) for what the environment does not set. Delete it for new ones."
      env | grep '^STREAMWISE_' | grep -v '^STREAMWISE_ENV_FILE=' | sort
    } >"$env_file"
  )
}

case "${1:-}" in
  start)
    mkdir -p "$run_dir" "$logs_dir"
    write_env
    for name in "${names[@]}"; do start_one "$name"; done
    echo "stack.sh: settings in $env_file (read by the CLI and the API); admin API key: $STREAMWISE_API_KEY"
    ;;
  stop) for ((i = ${#names[@]} - 1; i >= 0; i--)); do stop_one "${names[i]}"; done ;;
  status)
    rc=0
    for name in "${names[@]}"; do status_one "$name" || rc=1; done
    exit $rc
    ;;
  *)
    echo "usage: $0 start|stop|status" >&2
    exit 2
    ;;
esac
