#!/usr/bin/env bash
# Start or stop Airflow 3 (API server + UI, scheduler, DAG processor, triggerer) on the embedded
# warehouse, with the project's DAGs, the `warehouse` connection and the demo landing zone.
# Usage: scripts/local_airflow.sh up|down       (the Makefile's `make up` / `make down`)
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
STATE=$ROOT/.cdp/airflow
PIDFILE=$STATE/standalone.pid
export PATH=$ROOT/.venv/bin:$PATH
export AIRFLOW_HOME=$STATE
export AIRFLOW__CORE__DAGS_FOLDER=$ROOT/dags
export AIRFLOW__CORE__LOAD_EXAMPLES=False
export AIRFLOW__API__PORT=${AIRFLOW_PORT:-8080}
export CDP_LANDING_URI=${CDP_LANDING_URI:-$ROOT/.cdp/landing}
export DBT_SEND_ANONYMOUS_USAGE_STATS=False GX_ANALYTICS_ENABLED=False AIRFLOW__COSMOS__ENABLE_TELEMETRY=False

case "${1:-}" in
up)
    mkdir -p "$STATE"
    if [ -f "$PIDFILE" ] && kill -0 "$(cat "$PIDFILE")" 2>/dev/null; then
        echo "Airflow already runs (pid $(cat "$PIDFILE"))"
    else
        AIRFLOW_CONN_WAREHOUSE=$(cdp warehouse start)
        export AIRFLOW_CONN_WAREHOUSE
        setsid nohup airflow standalone > "$STATE/standalone.log" 2>&1 < /dev/null &
        echo $! > "$PIDFILE"
    fi
    url="http://localhost:$AIRFLOW__API__PORT"
    for _ in $(seq 1 90); do
        if curl -fs "$url/api/v2/monitor/health" > /dev/null 2>&1; then
            # One pool per destination instance bounds how hard the activation tasks hit it.
            cdp activations --pools | while read -r pool slots; do
                airflow pools set "$pool" "$slots" "cdp destination instance" > /dev/null
            done
            password=$(python3 -c "import json,sys; print(json.load(open(sys.argv[1]))['admin'])" \
                "$STATE/simple_auth_manager_passwords.json.generated" 2>/dev/null || echo "see $STATE/standalone.log")
            echo "Airflow UI: $url   login: admin / $password"
            echo "Landing zone for the DAGs: $CDP_LANDING_URI   logs: $STATE/standalone.log   stop: make down"
            exit 0
        fi
        sleep 2
    done
    echo "Airflow did not become healthy in 180 s; see $STATE/standalone.log" >&2
    exit 1
    ;;
down)
    if [ -f "$PIDFILE" ]; then
        kill -- -"$(cat "$PIDFILE")" 2>/dev/null || true
        rm -f "$PIDFILE"
        echo "Airflow stopped"
    fi
    cdp warehouse stop
    ;;
*)
    echo "usage: $0 up|down" >&2
    exit 2
    ;;
esac
