#!/usr/bin/env bash
# Start or stop Airflow 3 (API server + UI, scheduler, DAG processor, triggerer) on the embedded
# warehouse, with the project's DAGs, the `warehouse` connection, a pool per destination instance,
# the dbt manifest and sample data.
# Usage: scripts/local_airflow.sh up|down       (the Makefile's `make up` / `make down`)
# CDP_EXECUTOR=celery runs the services of docker-compose.yml instead (CeleryExecutor, a Celery
#           worker): metadata in a database `airflow` beside the warehouse and the broker in
#           Postgres too, unless AIRFLOW__DATABASE__SQL_ALCHEMY_CONN / AIRFLOW__CELERY__BROKER_URL
#           say otherwise (e.g. redis://127.0.0.1:6379/0).
# Settings: AIRFLOW_PORT (8080), CDP_HOME (.cdp), AIRFLOW_HOME ($CDP_HOME/airflow), CDP_LANDING_URI
#           (default: sample data in $AIRFLOW_HOME/landing, CDP_SAMPLE_DAYS 3 days of CDP_SAMPLE_CUSTOMERS
#           2000 customers). The browser test starts a private stack with them.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
export PATH=$ROOT/.venv/bin:$PATH
export CDP_HOME=${CDP_HOME:-$ROOT/.cdp}
export AIRFLOW_HOME=${AIRFLOW_HOME:-$CDP_HOME/airflow}
export AIRFLOW__CORE__DAGS_FOLDER=$ROOT/dags
export AIRFLOW__CORE__LOAD_EXAMPLES=False
export AIRFLOW__API__PORT=${AIRFLOW_PORT:-8080}
# Task processes reach the API server here (its default assumes port 8080).
export AIRFLOW__API__BASE_URL=http://localhost:$AIRFLOW__API__PORT
export AIRFLOW__CORE__EXECUTION_API_SERVER_URL=$AIRFLOW__API__BASE_URL/execution/
# A laptop's worth of parallel tasks; new DAG files show up within 30 s.
export AIRFLOW__CORE__PARALLELISM=${AIRFLOW__CORE__PARALLELISM:-8}
export AIRFLOW__DAG_PROCESSOR__REFRESH_INTERVAL=${AIRFLOW__DAG_PROCESSOR__REFRESH_INTERVAL:-30}
OWN_LANDING=${CDP_LANDING_URI:-}
export CDP_LANDING_URI=${CDP_LANDING_URI:-$AIRFLOW_HOME/landing}
export DBT_SEND_ANONYMOUS_USAGE_STATS=False GX_ANALYTICS_ENABLED=False AIRFLOW__COSMOS__ENABLE_TELEMETRY=False
STATE=$AIRFLOW_HOME
PIDFILE=$STATE/standalone.pid

# Celery needs a metadata database several processes can write: a database `airflow` on the
# warehouse's server (the embedded one by default), which also carries Celery's broker and results.
celery_settings() {
    local meta
    meta=$(python3 - "$1" <<'EOF'
import sys
from urllib.parse import urlsplit, urlunsplit
import psycopg2
url = urlsplit(sys.argv[1])
conn = psycopg2.connect(urlunsplit(url._replace(path="/postgres")))
conn.autocommit = True
with conn.cursor() as cur:
    cur.execute("select 1 from pg_database where datname = 'airflow'")
    if cur.fetchone() is None:
        cur.execute("create database airflow")
print(urlunsplit(url._replace(path="/airflow", query="")).split("://", 1)[1])
EOF
)
    export AIRFLOW__CORE__EXECUTOR=CeleryExecutor
    export AIRFLOW__DATABASE__SQL_ALCHEMY_CONN=${AIRFLOW__DATABASE__SQL_ALCHEMY_CONN:-postgresql+psycopg2://$meta}
    export AIRFLOW__CELERY__BROKER_URL=${AIRFLOW__CELERY__BROKER_URL:-sqla+postgresql://$meta}
    export AIRFLOW__CELERY__RESULT_BACKEND=${AIRFLOW__CELERY__RESULT_BACKEND:-db+postgresql://$meta}
    export AIRFLOW__CELERY__WORKER_CONCURRENCY=${AIRFLOW__CELERY__WORKER_CONCURRENCY:-4}
}

# The services, in one process group that `down` stops: `airflow standalone` locally, or the
# compose deployment's separate services with a Celery worker.
start_services() {
    if [ "${CDP_EXECUTOR:-local}" = celery ]; then
        setsid nohup bash -c 'airflow api-server & airflow scheduler & airflow dag-processor &
            airflow triggerer & airflow celery worker & wait' > "$STATE/standalone.log" 2>&1 < /dev/null &
    else
        setsid nohup airflow standalone > "$STATE/standalone.log" 2>&1 < /dev/null &
    fi
    echo $! > "$PIDFILE"
}

running() { [ -f "$PIDFILE" ] && kill -0 "$(cat "$PIDFILE")" 2>/dev/null; }

# Sample days that end yesterday (UTC): unpausing cdp_ingest runs yesterday's drop at once, and
# the earlier days can be triggered or backfilled from the UI.
sample_data() {
    local days=${CDP_SAMPLE_DAYS:-3} customers=${CDP_SAMPLE_CUSTOMERS:-2000} start marker
    start=$(date -u -d "$days days ago" +%F)
    marker=$CDP_LANDING_URI/.generated-$customers-$days-$start
    [ -f "$marker" ] && return
    rm -rf "$CDP_LANDING_URI"
    cdp generate --out "$CDP_LANDING_URI" --customers "$customers" --days "$days" --start "$start" > /dev/null
    touch "$marker"
}

# The `warehouse` connection (visible under Admin > Connections) and one pool per destination
# instance (`cdp activations --pools`), imported into Airflow's metadata database.
configure() {
    local url=$1 setup=$STATE/setup
    mkdir -p "$setup"
    printf 'warehouse=%s\n' "$url" > "$setup/connections.env"
    airflow connections import --overwrite "$setup/connections.env" > "$setup/connections.log"
    if cdp activations --pools > "$setup/pools.txt" 2>/dev/null && [ -s "$setup/pools.txt" ]; then
        python3 - "$setup/pools.txt" > "$setup/pools.json" <<'EOF'
import json, sys
pools = {}
for line in open(sys.argv[1]):
    name, slots = line.split()
    pools[name] = {"slots": int(slots), "description": "bounds the tasks sending to one destination", "include_deferred": False}
print(json.dumps(pools))
EOF
        airflow pools import "$setup/pools.json" > "$setup/pools.log"
    fi
}

case "${1:-}" in
up)
    mkdir -p "$STATE"
    if running; then
        echo "Airflow already runs (pid $(cat "$PIDFILE"))"
    else
        [ -n "$OWN_LANDING" ] || sample_data
        cdp manifest --if-stale > /dev/null  # cdp_build's per-model tasks render from it
        url=$(cdp warehouse start)
        [ "${CDP_EXECUTOR:-local}" != celery ] || celery_settings "$url"
        airflow db migrate > "$STATE/migrate.log" 2>&1
        configure "$url"
        start_services
    fi
    for _ in $(seq 1 120); do
        if curl -fs "$AIRFLOW__API__BASE_URL/api/v2/monitor/health" > /dev/null 2>&1; then
            password=$(python3 -c "import json,sys; print(json.load(open(sys.argv[1]))['admin'])" \
                "$STATE/simple_auth_manager_passwords.json.generated" 2>/dev/null || echo "see $STATE/standalone.log")
            echo "Airflow UI: $AIRFLOW__API__BASE_URL   login: admin / $password"
            echo "Landing zone for the DAGs: $CDP_LANDING_URI   logs: $STATE/standalone.log   stop: make down"
            exit 0
        fi
        running || { echo "Airflow exited; see $STATE/standalone.log" >&2; exit 1; }
        sleep 2
    done
    echo "Airflow did not become healthy in 240 s; see $STATE/standalone.log" >&2
    exit 1
    ;;
down)
    if running; then
        group=$(cat "$PIDFILE")
        kill -TERM -- -"$group" 2>/dev/null || true
        for _ in $(seq 1 30); do kill -0 -- -"$group" 2>/dev/null || break; sleep 1; done
        kill -KILL -- -"$group" 2>/dev/null || true
        echo "Airflow stopped"
    fi
    rm -f "$PIDFILE"
    cdp warehouse stop
    ;;
*)
    echo "usage: $0 up|down" >&2
    exit 2
    ;;
esac
