"""The payload gate: a batch of activation records checked just before it is sent.

The records are validated as they will leave (after the destination's normalization and
hashing) by the `activation_payload` checkpoint, in memory: every record has the consent the
activation's purpose requires, every identifier the destination takes hashed is a SHA-256 in
lowercase hex, no profile appears twice. A failure raises `GateFailed` naming the rule, the
count and the failing records' profile ids, never their values.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from cdp.quality.gates import GateResult, run_checkpoint

CHECKPOINT = "activation_payload"
CONSENT_COLUMN = "_consent"


def read_consent(cur, purpose: str, profile_ids: Iterable[str]) -> dict[str, str]:
    """profile_id -> consent status for `purpose`, from profiles.consent (absent profiles are left out)."""
    cur.execute(
        "select profile_id, status from profiles.consent where purpose = %s and profile_id = any(%s)",
        (purpose, list(profile_ids)),
    )
    return dict(cur.fetchall())


def hashed_identifiers(destination: str, keys: Iterable[str]) -> list[str]:
    """The payload keys among `keys` that `destination` takes hashed (matched without regard to case)."""
    from cdp.governance import load_policies

    hashed = {k.lower() for k in load_policies().hashed_identifiers(destination)}
    return sorted({k for k in keys if k.lower() in hashed})


def check_payload(
    activation,
    records: Iterable[Mapping],
    consent: Mapping[str, str],
    require_consent: bool = True,
) -> GateResult:
    """Validate `records` (dicts with `profile_id` and the payload keys) of `activation` before sending.

    `consent` maps profile_id to its status for the activation's purpose (`read_consent`); pass
    `require_consent=False` for removals, which need none. Raises GateFailed on any failure.
    """
    import pandas as pd

    frame = pd.DataFrame.from_records([dict(r) for r in records])
    if frame.empty:
        frame = pd.DataFrame({"profile_id": pd.Series(dtype="object")})
    keys = [c for c in frame.columns if c != "profile_id"]
    hashed = hashed_identifiers(activation.destination, keys)
    for column in hashed:  # a key left empty (nothing to match on) is allowed; a plain value is not
        frame[column] = frame[column].where(frame[column].notna() & (frame[column] != ""), None)
    # A profile with no decision on record has no consent: a gap, not a null the check would skip.
    frame[CONSENT_COLUMN] = [consent.get(str(p)) or "no decision" for p in frame["profile_id"]]
    variables = {
        "activation": activation.name,
        "consent_columns": [CONSENT_COLUMN] if require_consent else [],
        "hashed_columns": hashed,
    }
    return run_checkpoint(CHECKPOINT, variables, dataframe=frame, subject=activation.name)
