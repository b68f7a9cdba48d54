#!/usr/bin/env bash
# Start, stop or query a single-node Apache Kafka 4.x (KRaft) from the official jars, no Docker.
#   infra/kafka/kafka.sh start|stop|status
# Jars are fetched once from Maven Central into infra/kafka/libs (mvn dependency:copy-dependencies);
# data and logs live in $STREAMWISE_RUN_DIR (default: <repo>/.run, git-ignored).
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$here/../.." && pwd)
run_dir=${STREAMWISE_RUN_DIR:-$root/.run}
data_dir=$run_dir/kafka/data
logs_dir=$run_dir/logs/kafka
pid_file=$run_dir/kafka/kafka.pid
host=127.0.0.1
port=${STREAMWISE_KAFKA_PORT:-9092}
start_timeout=${STREAMWISE_KAFKA_START_TIMEOUT:-90}

answers() { (exec 3<>"/dev/tcp/$host/$port") 2>/dev/null; }

running_pid() {
  [[ -f $pid_file ]] || return 1
  local pid; pid=$(cat "$pid_file")
  kill -0 "$pid" 2>/dev/null && echo "$pid"
}

fetch_jars() {
  if [[ -f $here/libs/.complete ]]; then return; fi
  command -v mvn >/dev/null || { echo "kafka.sh: Maven (mvn) is needed to fetch the Kafka jars" >&2; exit 1; }
  echo "kafka.sh: fetching Kafka jars from Maven Central (once)"
  rm -rf "$here/libs"
  (cd "$here" && mvn -q -B dependency:copy-dependencies -DoutputDirectory=libs -DincludeScope=runtime)
  touch "$here/libs/.complete"
}

format_storage() {
  [[ -f $data_dir/meta.properties ]] && return
  mkdir -p "$data_dir"
  local cluster_id
  cluster_id=$(java -cp "$here/libs/*" kafka.tools.StorageTool random-uuid 2>/dev/null | tail -n 1)
  java -cp "$here/libs/*" -Dlog4j2.configurationFile="$here/log4j2.properties" -Dkafka.logs.dir="$logs_dir" \
    kafka.tools.StorageTool format --standalone -t "$cluster_id" -c "$run_dir/kafka/server.properties" >/dev/null
}

start() {
  if answers; then echo "kafka.sh: a broker already answers on $host:$port"; return; fi
  command -v java >/dev/null || { echo "kafka.sh: a JDK 17 (java) is needed" >&2; exit 1; }
  fetch_jars
  mkdir -p "$run_dir/kafka" "$logs_dir"
  { cat "$here/server.properties"; echo "log.dirs=$data_dir"; } >"$run_dir/kafka/server.properties"
  sed -i "s/:9092/:$port/g" "$run_dir/kafka/server.properties"
  format_storage
  nohup java -Xms512m -Xmx1g -XX:+UseG1GC -Djava.awt.headless=true \
    -Dlog4j2.configurationFile="$here/log4j2.properties" -Dkafka.logs.dir="$logs_dir" \
    -cp "$here/libs/*" kafka.Kafka "$run_dir/kafka/server.properties" \
    >"$logs_dir/stdout.log" 2>&1 &
  echo $! >"$pid_file"
  local waited=0
  until answers && grep -q "Kafka Server started" "$logs_dir/server.log" 2>/dev/null; do
    if ! running_pid >/dev/null; then
      echo "kafka.sh: broker exited during start-up; see $logs_dir" >&2; tail -n 20 "$logs_dir/stdout.log" >&2; exit 1
    fi
    if ((waited >= start_timeout)); then echo "kafka.sh: broker not ready after ${start_timeout}s" >&2; exit 1; fi
    sleep 1; waited=$((waited + 1))
  done
  echo "kafka.sh: broker ready on $host:$port after ${waited}s (pid $(cat "$pid_file"), logs in $logs_dir)"
}

stop() {
  local pid
  if ! pid=$(running_pid); then echo "kafka.sh: not running"; rm -f "$pid_file"; return; fi
  kill "$pid"
  for _ in $(seq 1 30); do kill -0 "$pid" 2>/dev/null || break; sleep 1; done
  kill -9 "$pid" 2>/dev/null || true
  rm -f "$pid_file"
  echo "kafka.sh: stopped"
}

status() {
  if answers; then echo "kafka.sh: broker answers on $host:$port"; else echo "kafka.sh: no broker on $host:$port"; return 1; fi
}

case "${1:-}" in
  start) start ;;
  stop) stop ;;
  status) status ;;
  *) echo "usage: $0 start|stop|status" >&2; exit 2 ;;
esac
