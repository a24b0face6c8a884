"""The Airflow sensor that waits for a landing-zone drop's `_SUCCESS` marker.

It reschedules between pokes (no worker slot held while waiting) and, past the run's
`drop_timeout_minutes`, fails without retry and names the source, the date and what it saw.
"""

from __future__ import annotations

from datetime import UTC, date, datetime

from airflow.sdk import PokeReturnValue
from airflow.sdk.bases.sensor import BaseSensorOperator
from airflow.sdk.exceptions import AirflowFailException, AirflowSkipException


class DropSensor(BaseSensorOperator):
    """Done when `<landing>/<source>/dt=<date>/_SUCCESS` exists; skipped when the source is not selected."""

    def __init__(self, *, source: str, run_date, landing_uri, **kwargs):
        # The sensor's own timeout is a backstop only; the run's param decides, with a clear message.
        kwargs.setdefault("timeout", 7 * 24 * 3600)
        kwargs.setdefault("mode", "reschedule")
        kwargs.setdefault("poke_interval", 60)
        super().__init__(**kwargs)
        self.source = source
        self.run_date = run_date  # callable(params) -> date, resolved when the task runs
        self.landing_uri = landing_uri  # callable(params) -> str

    def poke(self, context) -> PokeReturnValue:
        from cdp.landing import LandingZone, LandingZoneError
        from cdp.pipeline import drop_state

        params = context["params"]
        if self.source not in params["sources"]:
            raise AirflowSkipException(f"{self.source} not selected for this run")
        dt: date = self.run_date(params)
        try:
            landing = LandingZone.from_uri(self.landing_uri(params))
            landing.check()
        except LandingZoneError as exc:  # waiting would not make it appear: fail now, without retry
            raise AirflowFailException(f"{self.source} dt={dt}: {exc}") from None
        state = drop_state(landing, self.source, dt)
        if state == "complete":
            return PokeReturnValue(is_done=True)
        first_poke = context["ti"].get_first_reschedule_date(context) or datetime.now(UTC)
        waited_minutes = (datetime.now(UTC) - first_poke).total_seconds() / 60
        limit = params["drop_timeout_minutes"]
        what = "files but no _SUCCESS marker" if state == "incomplete" else "nothing delivered"
        if waited_minutes >= limit:
            raise AirflowFailException(
                f"{self.source} dt={dt}: drop not complete after {limit} minute(s) ({what}). "
                f"Ask the {self.source} owner to deliver {self.source}/dt={dt}/_SUCCESS, then clear this task."
            )
        self.log.info("%s dt=%s: %s; waited %.0f of %s minute(s)", self.source, dt, what, waited_minutes, limit)
        return PokeReturnValue(is_done=False)
