# The Airflow image with the project and its locked dependencies.
FROM python:3.11-slim
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 UV_PROJECT_ENVIRONMENT=/opt/venv PATH=/opt/venv/bin:$PATH \
    DBT_SEND_ANONYMOUS_USAGE_STATS=False GX_ANALYTICS_ENABLED=False AIRFLOW__COSMOS__ENABLE_TELEMETRY=False
RUN pip install --no-cache-dir uv==0.13.8 && useradd --create-home airflow
WORKDIR /opt/cdp
COPY pyproject.toml uv.lock ./
RUN uv sync --frozen --no-install-project
COPY . .
RUN uv sync --frozen && chown -R airflow /opt/cdp
USER airflow
ENV AIRFLOW_HOME=/opt/cdp/state/airflow CDP_PROJECT_DIR=/opt/cdp
ENTRYPOINT ["airflow"]
