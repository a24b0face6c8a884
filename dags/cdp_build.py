"""Airflow DAG cdp_build: built in cdp.orchestration; this file only exposes it to the DAG processor."""

from cdp.orchestration import build_dag

dag = build_dag()
