#!/usr/bin/env bash
# sqlfluff on the dbt models with the dbt templater (configured in .sqlfluff). dbt compiles the
# models against the warehouse, so the profile's CDP_PG_* variables come from the platform's
# warehouse resolution (WAREHOUSE_URL, else the embedded warehouse, started on demand).
set -euo pipefail
cd "$(dirname "$0")/.."
eval "$(.venv/bin/python -c '
import shlex
from cdp.transform import dbt_env
print(" ".join(f"export {name}={shlex.quote(value)}" for name, value in dbt_env().items()))
')"
exec .venv/bin/sqlfluff lint dbt_project/models "$@"
