#!/usr/bin/env bash
# Private PostgreSQL/PostGIS, Redis and Mosquitto under ./var/ for `make run` and `make test`.
#   scripts/services.sh start   create (first time) and start them; write var/services.env
#   scripts/services.sh stop    stop them
#   scripts/services.sh status  say what runs
# With DATABASE_URL / REDIS_URL set, the matching private service is neither created nor started.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
VAR="$ROOT/var"
PGDATA="$VAR/pg"
RUN="$VAR/run"
LOG="$VAR/log"
ENVFILE="$VAR/services.env"
PGBIN=$(ls -d /usr/lib/postgresql/15/bin 2>/dev/null || true)
DB_NAME=qingdao_ops

die() { echo "services: $*" >&2; exit 1; }

# PostgreSQL refuses to run as root: as root, run its tools as the postgres user.
as_pg() {
  if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}

free_port() {  # first free loopback TCP port at or after $1
  local p=$1
  while (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; do p=$((p + 1)); done
  echo "$p"
}

wait_for() {  # wait_for SECONDS DESCRIPTION COMMAND...
  local limit=$1 what=$2; shift 2
  local deadline=$((SECONDS + limit))
  until "$@" >/dev/null 2>&1; do
    [ $SECONDS -lt $deadline ] || die "$what did not come up within ${limit}s (see $LOG)"
    sleep 0.2
  done
}

pg_port() { cat "$PGDATA/qdops_port"; }

pg_start() {
  [ -n "$PGBIN" ] || die "PostgreSQL 15 is not installed (make deps installs it)"
  [ -e /usr/share/postgresql/15/extension/postgis.control ] || die "PostGIS for PostgreSQL 15 is not installed (make deps installs it)"
  mkdir -p "$VAR" "$RUN" "$LOG"
  if [ "$(id -u)" = 0 ]; then chown postgres: "$RUN" "$LOG"; chmod 755 "$VAR"; fi
  if [ ! -s "$PGDATA/PG_VERSION" ]; then
    echo "services: creating a private PostgreSQL 15 cluster in $PGDATA"
    rm -rf "$PGDATA"; mkdir -p "$PGDATA"
    [ "$(id -u)" = 0 ] && chown postgres: "$PGDATA"
    as_pg "$PGBIN/initdb" -D "$PGDATA" -U postgres --auth=trust --encoding=UTF8 --locale=C.UTF-8 >"$LOG/initdb.log"
    free_port 54320 | as_pg tee "$PGDATA/qdops_port" >/dev/null
    cat <<CONF | as_pg tee -a "$PGDATA/postgresql.conf" >/dev/null
# qingdao_ops private cluster: loopback only, sized for a laptop
listen_addresses = '127.0.0.1'
port = $(pg_port)
unix_socket_directories = '$RUN'
max_connections = 200
shared_buffers = 512MB
work_mem = 16MB
maintenance_work_mem = 256MB
fsync = on
synchronous_commit = off
CONF
  fi
  if ! as_pg "$PGBIN/pg_ctl" -D "$PGDATA" status >/dev/null 2>&1; then
    as_pg "$PGBIN/pg_ctl" -D "$PGDATA" -l "$LOG/postgresql.log" -w -t 60 start >/dev/null \
      || die "PostgreSQL did not start (see $LOG/postgresql.log)"
  fi
  export PGOPTIONS="-c client_min_messages=warning"
  local psql=("$PGBIN/psql" -h 127.0.0.1 -p "$(pg_port)" -U postgres -v ON_ERROR_STOP=1 -qAt)
  wait_for 30 PostgreSQL "${psql[@]}" -d postgres -c 'select 1'
  # PostGIS is not a trusted extension: create it as superuser in template1 too, so test databases have it.
  "${psql[@]}" -d template1 -c 'CREATE EXTENSION IF NOT EXISTS postgis' >/dev/null
  if [ -z "$("${psql[@]}" -d postgres -c "select 1 from pg_database where datname='$DB_NAME'")" ]; then
    "${psql[@]}" -d postgres -c "CREATE DATABASE $DB_NAME" >/dev/null
  fi
  "${psql[@]}" -d "$DB_NAME" -c 'CREATE EXTENSION IF NOT EXISTS postgis' >/dev/null
}

pg_stop() {
  [ -s "$PGDATA/PG_VERSION" ] || return 0
  as_pg "$PGBIN/pg_ctl" -D "$PGDATA" -m fast -w stop >/dev/null 2>&1 || true
}

redis_start() {
  command -v redis-server >/dev/null || die "redis-server is not installed (make deps installs it)"
  mkdir -p "$VAR/redis" "$LOG"
  [ -s "$VAR/redis/port" ] || free_port 63790 >"$VAR/redis/port"
  local port; port=$(cat "$VAR/redis/port")
  if ! redis-cli -p "$port" ping >/dev/null 2>&1; then
    redis-server --daemonize yes --bind 127.0.0.1 --port "$port" --dir "$VAR/redis" \
      --pidfile "$VAR/redis/redis.pid" --logfile "$LOG/redis.log" --save "" --appendonly no --databases 64 >/dev/null
    wait_for 15 Redis redis-cli -p "$port" ping
  fi
}

redis_stop() {
  [ -s "$VAR/redis/port" ] && redis-cli -p "$(cat "$VAR/redis/port")" shutdown nosave >/dev/null 2>&1 || true
}

mqtt_start() {
  command -v mosquitto >/dev/null || return 0   # optional until a lifelines feature needs it
  mkdir -p "$VAR/mqtt" "$LOG"
  [ -s "$VAR/mqtt/port" ] || free_port 18830 >"$VAR/mqtt/port"
  local port; port=$(cat "$VAR/mqtt/port")
  if ! (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
    printf 'listener %s 127.0.0.1\nallow_anonymous true\npid_file %s\nlog_dest file %s\n' \
      "$port" "$VAR/mqtt/mosquitto.pid" "$LOG/mosquitto.log" >"$VAR/mqtt/mosquitto.conf"
    [ "$(id -u)" = 0 ] && printf 'user root\n' >>"$VAR/mqtt/mosquitto.conf"
    mosquitto -d -c "$VAR/mqtt/mosquitto.conf" 2>/dev/null
    wait_for 15 Mosquitto bash -c "exec 3<>/dev/tcp/127.0.0.1/$port"
  fi
}

mqtt_stop() {
  [ -s "$VAR/mqtt/mosquitto.pid" ] && kill "$(cat "$VAR/mqtt/mosquitto.pid")" 2>/dev/null || true
}

write_env() {
  mkdir -p "$VAR"
  {
    echo "# written by scripts/services.sh; read by the Makefile and by settings when the variables are unset"
    if [ -z "${DATABASE_URL:-}" ]; then echo "DATABASE_URL=postgis://postgres@127.0.0.1:$(pg_port)/$DB_NAME"; fi
    if [ -z "${REDIS_URL:-}" ]; then echo "REDIS_URL=redis://127.0.0.1:$(cat "$VAR/redis/port")/0"; fi
    if [ -z "${MQTT_URL:-}" ] && [ -s "$VAR/mqtt/port" ]; then echo "MQTT_URL=mqtt://127.0.0.1:$(cat "$VAR/mqtt/port")"; fi
  } >"$ENVFILE"
}

case "${1:-}" in
  start)
    [ -n "${DATABASE_URL:-}" ] || pg_start
    [ -n "${REDIS_URL:-}" ] || redis_start
    [ -n "${MQTT_URL:-}" ] || mqtt_start
    write_env
    ;;
  stop) pg_stop; redis_stop; mqtt_stop ;;
  status)
    if [ -s "$PGDATA/PG_VERSION" ]; then as_pg "$PGBIN/pg_ctl" -D "$PGDATA" status | head -1; else echo "no private PostgreSQL cluster"; fi
    if [ -s "$VAR/redis/port" ]; then redis-cli -p "$(cat "$VAR/redis/port")" ping 2>&1 | sed 's/^/redis: /'; else echo "no private Redis"; fi
    [ -f "$ENVFILE" ] && cat "$ENVFILE"
    ;;
  *) echo "usage: $0 start|stop|status" >&2; exit 2 ;;
esac
