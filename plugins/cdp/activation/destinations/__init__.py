"""Destinations, one module each: client, normalization, limits and error mapping.

Each is a `Destination` (see `base`): the sync engine hands it batches and maps what it raises
onto retries, rejections and failures.
"""

from __future__ import annotations

from cdp.activation.destinations.base import Destination
from cdp.activation.destinations.file_export import FileExport
from cdp.activation.destinations.meta_custom_audiences import MetaCustomAudiences
from cdp.activation.destinations.webhook import Webhook

DESTINATIONS: dict[str, type[Destination]] = {d.type_name: d for d in (FileExport, Webhook, MetaCustomAudiences)}


def destination_for(type_name: str) -> type[Destination]:
    try:
        return DESTINATIONS[type_name]
    except KeyError:
        raise ValueError(f"unknown destination type {type_name!r}; known: {', '.join(DESTINATIONS)}") from None
