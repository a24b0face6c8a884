"""Airflow DAG cdp_ingest: built in cdp.orchestration; this file only exposes it to the DAG processor."""

from cdp.orchestration import ingest_dag

dag = ingest_dag()
