"""Airflow DAG cdp_activate: built in cdp.orchestration; this file only exposes it to the DAG processor."""

from cdp.orchestration import activate_dag

dag = activate_dag()
