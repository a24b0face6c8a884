"""Destinations, one module each: client, normalization, limits and error mapping.

A destination receives the plan and the full desired state of one activation run and
returns the outcome of every record it was given.
"""

from __future__ import annotations

from cdp.activation.destinations.file_export import FileExport

DESTINATIONS = {FileExport.type_name: FileExport}


def destination_for(type_name: str):
    try:
        return DESTINATIONS[type_name]
    except KeyError:
        raise ValueError(f"unknown destination type {type_name!r}; known: {', '.join(DESTINATIONS)}") from None
