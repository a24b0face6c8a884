# The Airflow image with the project and its locked dependencies (uv.lock), for docker-compose.yml.
FROM python:3.11-slim
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 UV_PROJECT_ENVIRONMENT=/opt/venv PATH=/opt/venv/bin:$PATH \
    DBT_SEND_ANONYMOUS_USAGE_STATS=False GX_ANALYTICS_ENABLED=False AIRFLOW__COSMOS__ENABLE_TELEMETRY=False
RUN pip install --no-cache-dir uv==0.13.8 && useradd --create-home airflow
WORKDIR /opt/cdp
# Dependencies first, in their own layer: a code change does not reinstall them.
COPY pyproject.toml uv.lock ./
RUN uv sync --frozen --no-dev --compile-bytecode --no-install-project
COPY . .
ENV AIRFLOW_HOME=/opt/cdp/state/airflow CDP_PROJECT_DIR=/opt/cdp
# The dbt manifest cdp_build renders its per-model tasks from (`dbt parse`: no warehouse needed).
# The state volume (Airflow home, reports, Data Docs) mounts here: created now so it belongs to airflow.
RUN uv sync --frozen --no-dev --compile-bytecode && cdp manifest && mkdir -p /opt/cdp/state/airflow \
    && chown -R airflow /opt/cdp
USER airflow
ENTRYPOINT ["airflow"]
