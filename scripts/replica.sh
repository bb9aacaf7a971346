#!/usr/bin/env bash
# A PostgreSQL streaming replica of the local primary, on loopback, for the tests and the bench:
#
#   scripts/replica.sh start    pg_basebackup -R -X stream of 127.0.0.1:5432 into $REPLICA_DIR,
#                               started on 127.0.0.1:$REPLICA_PORT (hot standby), waits until it answers
#   scripts/replica.sh status   running or not, and how far behind the primary it is
#   scripts/replica.sh stop     stops it and deletes its data directory
#
# Idempotent: `start` on a running replica says so and does nothing. Run as root (it runs
# PostgreSQL's tools as the postgres user) or as postgres. The primary must accept replication
# connections from 127.0.0.1 (a rule naming `replication`: `all` does not cover it); where no rule
# of its pg_hba.conf does, `start` appends one line,
#   host replication all 127.0.0.1/32 trust
# to the primary's pg_hba.conf and reloads it (saying so; the only change made to the primary).
# Then: DATABASE_REPLICA_URL=postgres://postgres@127.0.0.1:5433/<database> (docs/scaling.md).
set -euo pipefail

PG_BIN=${PG_BIN:-$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1)}
PRIMARY_HOST=${PRIMARY_HOST:-127.0.0.1}
PRIMARY_PORT=${PRIMARY_PORT:-5432}
REPLICA_PORT=${REPLICA_PORT:-5433}
REPLICA_DIR=${REPLICA_DIR:-/tmp/epigrid-replica-$REPLICA_PORT}
LOG="$REPLICA_DIR.log"

as_postgres() {
  if [ "$(id -un)" = postgres ]; then "$@"; else runuser -u postgres -- "$@"; fi
}
primary_sql() { "$PG_BIN/psql" -h "$PRIMARY_HOST" -p "$PRIMARY_PORT" -U postgres -d postgres -Atqc "$1"; }
running() { [ -f "$REPLICA_DIR/postmaster.pid" ] && as_postgres "$PG_BIN/pg_ctl" -D "$REPLICA_DIR" status >/dev/null 2>&1; }

allow_replication() {
  # A rule of pg_hba.conf that lets a replication connection in from 127.0.0.1 (or anywhere).
  local rules
  rules=$(primary_sql "SELECT count(*) FROM pg_hba_file_rules WHERE 'replication' = ANY(database)
                         AND type LIKE 'host%' AND (address IS NULL OR address IN ('127.0.0.1', 'all', '0.0.0.0'))")
  [ "$rules" != 0 ] && return 0
  local hba
  hba=$(primary_sql "SHOW hba_file")
  [ -w "$hba" ] || { echo "replica: the primary's $hba has no replication rule for 127.0.0.1 and is not writable" >&2; return 1; }
  echo "replica: adding 'host replication all 127.0.0.1/32 trust' to $hba and reloading the primary"
  printf '\n# scripts/replica.sh: the loopback streaming replica\nhost replication all 127.0.0.1/32 trust\n' >>"$hba"
  primary_sql "SELECT pg_reload_conf()" >/dev/null
  sleep 1
}

start() {
  if running; then
    echo "replica: already running on 127.0.0.1:$REPLICA_PORT ($REPLICA_DIR)"
    return 0
  fi
  [ -x "$PG_BIN/pg_basebackup" ] || { echo "replica: no PostgreSQL binaries (PG_BIN=$PG_BIN)" >&2; return 1; }
  "$PG_BIN/pg_isready" -h "$PRIMARY_HOST" -p "$PRIMARY_PORT" -q || { echo "replica: no primary at $PRIMARY_HOST:$PRIMARY_PORT" >&2; return 1; }
  [ "$(primary_sql 'SHOW wal_level')" != minimal ] || { echo "replica: the primary's wal_level is minimal" >&2; return 1; }
  allow_replication
  rm -rf "$REPLICA_DIR"
  install -d -o postgres -g postgres -m 700 "$REPLICA_DIR"
  # -R writes standby.signal and primary_conninfo; -X stream copies the WAL made meanwhile.
  as_postgres "$PG_BIN/pg_basebackup" -h "$PRIMARY_HOST" -p "$PRIMARY_PORT" -U postgres -D "$REPLICA_DIR" \
    -R -X stream -c fast --no-sync
  # Debian keeps the configuration in /etc: the copy has none. A hot standby needs at least the
  # primary's max_connections, max_worker_processes, max_wal_senders, max_prepared_transactions
  # and max_locks_per_transaction.
  local settings
  settings=$(primary_sql "SELECT string_agg(name || ' = ' || setting, E'\n') FROM pg_settings WHERE name IN
    ('max_connections', 'max_worker_processes', 'max_wal_senders', 'max_prepared_transactions',
     'max_locks_per_transaction', 'TimeZone', 'log_timezone')")
  as_postgres tee "$REPLICA_DIR/postgresql.conf" >/dev/null <<EOF
# The loopback streaming replica made by scripts/replica.sh (deleted by its stop).
listen_addresses = '127.0.0.1'
port = $REPLICA_PORT
unix_socket_directories = '$REPLICA_DIR'
hot_standby = on
hot_standby_feedback = on
shared_buffers = 32MB
fsync = off
$(echo "$settings" | sed -E "s/^(TimeZone|log_timezone) = (.*)$/\1 = '\2'/")
EOF
  as_postgres tee "$REPLICA_DIR/pg_hba.conf" >/dev/null <<EOF
local all all trust
host all all 127.0.0.1/32 trust
EOF
  as_postgres touch "$REPLICA_DIR/pg_ident.conf"
  touch "$LOG" && chown postgres "$LOG"
  as_postgres "$PG_BIN/pg_ctl" -D "$REPLICA_DIR" -l "$LOG" -w -t 60 start >/dev/null
  for _ in $(seq 1 30); do
    "$PG_BIN/pg_isready" -h 127.0.0.1 -p "$REPLICA_PORT" -q && break
    sleep 1
  done
  "$PG_BIN/pg_isready" -h 127.0.0.1 -p "$REPLICA_PORT" -q || { echo "replica: did not start, see $LOG" >&2; return 1; }
  echo "replica: streaming from $PRIMARY_HOST:$PRIMARY_PORT on 127.0.0.1:$REPLICA_PORT ($REPLICA_DIR)"
}

status() {
  if ! running; then
    echo "replica: not running"
    return 3
  fi
  "$PG_BIN/psql" -h 127.0.0.1 -p "$REPLICA_PORT" -U postgres -d postgres -Atqc "SELECT
    'replica: running on 127.0.0.1:$REPLICA_PORT, in recovery ' || pg_is_in_recovery()
    || ', replayed ' || coalesce(pg_last_wal_replay_lsn()::text, '-')
    || ' of received ' || coalesce(pg_last_wal_receive_lsn()::text, '-')
    || ', last transaction replayed ' || coalesce(round(extract(epoch FROM now() - pg_last_xact_replay_timestamp()))::text || ' s ago', 'none')"
}

stop() {
  if running; then
    as_postgres "$PG_BIN/pg_ctl" -D "$REPLICA_DIR" -m fast -w stop >/dev/null
    echo "replica: stopped"
  else
    echo "replica: not running"
  fi
  rm -rf "$REPLICA_DIR" "$LOG"
}

case "${1:-}" in
  start) start ;;
  stop) stop ;;
  status) status ;;
  *) echo "usage: $0 start|stop|status" >&2; exit 2 ;;
esac
