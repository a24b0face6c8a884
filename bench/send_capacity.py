"""Reference for activation sending: what the destination's medium takes without the engine.

For the file export: writing the very bytes it exported (every part and the manifest, read
back from the export folder) to a scratch folder. The engine's sending is held to that.
"""

from __future__ import annotations

import json
import time
from datetime import date
from pathlib import Path


def exported_files(exports_root: Path, activation: str, dt: date) -> list[Path]:
    folder = exports_root / activation / f"dt={dt.isoformat()}"
    manifest = folder / "_manifest.json"
    if not manifest.exists():
        return []
    parts = [Path(part["uri"]) for part in json.loads(manifest.read_text())["parts"]]
    return [*parts, manifest]


def write_same_bytes(files: list[Path], scratch: Path) -> tuple[float, int]:
    """(seconds, bytes) to write the files' contents afresh, one write per file."""
    contents = [(f"{i:05d}-{path.name}", path.read_bytes()) for i, path in enumerate(files)]
    scratch.mkdir(parents=True, exist_ok=True)
    start = time.perf_counter()
    for name, body in contents:
        (scratch / name).write_bytes(body)
    seconds = time.perf_counter() - start
    for name, _ in contents:
        (scratch / name).unlink()
    return seconds, sum(len(body) for _, body in contents)
