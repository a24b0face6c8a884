#!/usr/bin/env bash
# sqlfluff on the dbt models with the dbt templater (configured in .sqlfluff). dbt compiles the
# models against the warehouse, so the profile's CDP_PG_* variables come from the platform's
# warehouse resolution (WAREHOUSE_URL, else the embedded warehouse, started on demand and stopped
# again when this script started it).
set -euo pipefail
cd "$(dirname "$0")/.."
if [ -z "${WAREHOUSE_URL:-}" ] && .venv/bin/cdp warehouse status | grep -q stopped; then
    trap '.venv/bin/cdp warehouse stop > /dev/null' EXIT
fi
eval "$(.venv/bin/python -c '
import shlex
from cdp.transform import dbt_env
print(" ".join(f"export {name}={shlex.quote(value)}" for name, value in dbt_env().items()))
')"
.venv/bin/sqlfluff lint dbt_project/models "$@"
