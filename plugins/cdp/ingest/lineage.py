"""What every raw row of a drop's file records besides its values: `_dt`, `_file`, `_line`
(the row's own), `_load_id`."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from cdp.warehouse.bulk import copy_field

# A raw row's columns after the contract's, in the order every ready row is copied with.
COPY_COLUMNS = ("_dt", "_file", "_line", "_load_id", "_extra", "_absent")


@dataclass(frozen=True)
class Lineage:
    dt: date
    load_id: str

    def copy_text(self, file_name: str) -> tuple[str, str]:
        """As COPY text: _dt and _file (tab-separated), and _load_id."""
        return f"{self.dt.isoformat()}\t{copy_field(file_name)}", copy_field(self.load_id)
