"""Reference for activation planning: bare `hashlib.sha256` over the same records' identifiers.

The identifiers are those the activation sends (its `identities`, or its email and phone
fields when it declares none) for every member of its audience, read before the clock starts.
Hashing them is the least any planner that compares hashed records, or any destination that
wants hashed identifiers, must do.
"""

from __future__ import annotations

import hashlib
import time

from cdp.activation.config import Activation

IDENTIFIER_ATTRIBUTES = ("email", "phone")


def identifiers(conn, activation: Activation) -> list[str]:
    attributes = sorted(set(activation.identities.values())) or [
        a for a in IDENTIFIER_ATTRIBUTES if a in activation.fields.values()
    ]
    if not attributes:
        return []
    values = ", ".join(f'p."{a}"' for a in attributes)
    with conn.cursor() as cur:
        cur.execute(
            f'select {values} from audiences."{activation.audience}" a'
            " join profiles.profiles p on p.profile_id = a.profile_id"
        )
        return [str(value) for row in cur.fetchall() for value in row if value]


def hash_all(values: list[str]) -> float:
    """Seconds to SHA-256 every value to hex, as destinations expect."""
    sha256 = hashlib.sha256
    start = time.perf_counter()
    for value in values:
        sha256(value.encode()).hexdigest()
    return time.perf_counter() - start
