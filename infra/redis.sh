#!/usr/bin/env bash
# Start, stop or query a loopback redis-server (Debian's package) for development and tests.
#   infra/redis.sh start|stop|status
# Nothing is started when a server already answers on the port. An append-only file in .run/redis
# keeps checkpoints and the registry across `make down` and `make up` (as docker-compose.yml does):
# without it a restart lost every checkpoint while Kafka's committed offsets said the models had learned.
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$here/.." && pwd)
run_dir=${STREAMWISE_RUN_DIR:-$root/.run}
port=${STREAMWISE_REDIS_PORT:-6379}
pid_file=$run_dir/redis/redis.pid

answers() { [[ "$(redis-cli -h 127.0.0.1 -p "$port" ping 2>/dev/null)" == PONG ]]; }

start() {
  if answers; then echo "redis.sh: a server already answers on 127.0.0.1:$port"; return; fi
  command -v redis-server >/dev/null || { echo "redis.sh: redis-server is needed (apt-get install redis-server)" >&2; exit 1; }
  mkdir -p "$run_dir/redis" "$run_dir/logs"
  redis-server --daemonize yes --bind 127.0.0.1 --port "$port" --save "" --appendonly yes --appendfsync everysec \
    --dir "$run_dir/redis" --pidfile "$pid_file" --logfile "$run_dir/logs/redis.log"
  for _ in $(seq 1 50); do answers && { echo "redis.sh: ready on 127.0.0.1:$port"; return; }; sleep 0.1; done
  echo "redis.sh: redis-server did not answer; see $run_dir/logs/redis.log" >&2; exit 1
}

stop() {
  if [[ -f $pid_file ]] && kill -0 "$(cat "$pid_file")" 2>/dev/null; then
    redis-cli -h 127.0.0.1 -p "$port" shutdown >/dev/null 2>&1 || kill "$(cat "$pid_file")"  # flushes the AOF
    rm -f "$pid_file"; echo "redis.sh: stopped"
  else
    echo "redis.sh: not running (not started by this script)"
  fi
}

status() {
  if answers; then echo "redis.sh: answers on 127.0.0.1:$port"; else echo "redis.sh: nothing on 127.0.0.1:$port"; return 1; fi
}

case "${1:-}" in
  start) start ;;
  stop) stop ;;
  status) status ;;
  *) echo "usage: $0 start|stop|status" >&2; exit 2 ;;
esac
