"""Ingestion: landing-zone drops into `raw.<source>`, bad rows to quarantine, every file reported."""

from cdp.ingest.loader import DropReport, FileReport, load_drop

__all__ = ["DropReport", "FileReport", "load_drop"]
