"""Running a checkpoint kept as code under `expectations/checkpoints/<name>.yml`.

Each file names warehouse tables and the expectations that must hold for them. A checkpoint
runs as a real Great Expectations checkpoint against the warehouse and updates Data Docs;
a failed one raises `GateFailed` with a report that names the expectation, the table and the
count, never a row's values (no PII).
"""

from __future__ import annotations

import logging
import re
import string
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path

import yaml

from cdp import settings
from cdp.warehouse import resolve_url

log = logging.getLogger(__name__)
DATA_DOCS_SITE = "cdp"


class GateFailed(Exception):
    """Bad data stopped at a boundary. Not retryable: retrying bad data does not fix it."""

    def __init__(self, result: GateResult):
        self.result = result
        super().__init__("\n".join(result.report_lines()))


@dataclass
class ExpectationOutcome:
    table: str
    expectation: str
    description: str
    success: bool
    observed: object = None
    unexpected_count: int | None = None
    error: str | None = None  # the expectation could not be evaluated (e.g. a broken query)


@dataclass
class GateResult:
    checkpoint: str
    success: bool
    outcomes: list[ExpectationOutcome] = field(default_factory=list)
    data_docs: str | None = None

    @property
    def failed(self) -> list[ExpectationOutcome]:
        return [o for o in self.outcomes if not o.success]

    def report_lines(self) -> list[str]:
        status = "passed" if self.success else "FAILED"
        lines = [f"gate {self.checkpoint}: {status} ({len(self.outcomes) - len(self.failed)}/{len(self.outcomes)})"]
        for o in self.failed:
            if o.error:
                lines.append(f"  ERROR {o.table}: {o.expectation} ({o.description}): {o.error}")
                continue
            count = f", {o.unexpected_count} unexpected row(s)" if o.unexpected_count is not None else ""
            lines.append(f"  FAILED {o.table}: {o.expectation} ({o.description}) observed={o.observed}{count}")
        if self.data_docs:
            lines.append(f"  Data Docs: {self.data_docs}")
        return lines


def checkpoint_file(name: str) -> Path:
    return settings.expectations_dir() / "checkpoints" / f"{name}.yml"


def _snake(name: str) -> str:
    return re.sub(r"(?<!^)(?=[A-Z])", "_", name).lower()


@cache
def _expectation_classes() -> dict[str, type]:
    import great_expectations as gx

    classes = {}
    for name in dir(gx.expectations):
        obj = getattr(gx.expectations, name)
        if isinstance(obj, type) and issubclass(obj, gx.expectations.Expectation):
            classes[_snake(name)] = obj
    return classes


def _context(url: str):
    """An ephemeral GX context: suites come from our files, Data Docs go to the state folder."""
    import great_expectations as gx
    from great_expectations.data_context.types.base import ProgressBarsConfig

    context = gx.get_context(mode="ephemeral")
    context.variables.progress_bars = ProgressBarsConfig(globally=False)
    docs_dir = settings.state_dir() / "data_docs"
    context.add_data_docs_site(
        site_name=DATA_DOCS_SITE,
        site_config={
            "class_name": "SiteBuilder",
            "store_backend": {"class_name": "TupleFilesystemStoreBackend", "base_directory": str(docs_dir)},
            "site_index_builder": {"class_name": "DefaultSiteIndexBuilder"},
        },
    )
    context.data_sources.add_postgres(name="warehouse", connection_string=url)
    return context


def _build_expectation(spec: dict, variables: dict[str, str]):
    kwargs = dict(spec.get("kwargs", {}))
    for key, value in kwargs.items():
        if isinstance(value, str):
            kwargs[key] = string.Template(value).safe_substitute(variables)
    cls = _expectation_classes().get(spec["type"])
    if cls is None:
        raise ValueError(f"unknown expectation type {spec['type']!r}")
    if spec.get("description"):
        kwargs["description"] = spec["description"]
    return cls(**kwargs)


def run_checkpoint(name: str, variables: dict[str, str] | None = None, raise_on_failure: bool = True) -> GateResult:
    """Run expectations/checkpoints/<name>.yml; `variables` fill `$name` placeholders in queries."""
    import great_expectations as gx

    with open(checkpoint_file(name), encoding="utf-8") as fh:
        definition = yaml.safe_load(fh)
    context = _context(resolve_url())
    datasource = context.data_sources.get("warehouse")
    validation_definitions = []
    for index, validation in enumerate(definition["validations"]):
        schema, table = validation["table"].split(".", 1)
        asset = datasource.add_table_asset(name=f"{validation['table']}#{index}", table_name=table, schema_name=schema)
        batch = asset.add_batch_definition_whole_table("whole table")
        suite = context.suites.add(gx.ExpectationSuite(name=f"{name}.{validation['table']}"))
        for spec in validation["expectations"]:
            suite.add_expectation(_build_expectation(spec, variables or {}))
        vd = context.validation_definitions.add(
            gx.ValidationDefinition(name=f"{name}.{validation['table']}", data=batch, suite=suite)
        )
        validation_definitions.append(vd)
    checkpoint = context.checkpoints.add(
        gx.Checkpoint(
            name=name,
            validation_definitions=validation_definitions,
            actions=[gx.checkpoint.UpdateDataDocsAction(name="data_docs", site_names=[DATA_DOCS_SITE])],
            # BASIC, not SUMMARY: no samples of unexpected values, which could be personal data.
            result_format={"result_format": "BASIC", "partial_unexpected_count": 0},
        )
    )
    run = checkpoint.run()
    result = GateResult(name, bool(run.success))
    for validation_result in run.run_results.values():
        table = validation_result.suite_name.removeprefix(f"{name}.")
        for er in validation_result.results:
            config = er.expectation_config
            result.outcomes.append(
                ExpectationOutcome(
                    table=table,
                    expectation=config.type,
                    description=config.description or "",
                    success=bool(er.success),
                    observed=er.result.get("observed_value"),
                    unexpected_count=er.result.get("unexpected_count"),
                    error=_exception_message(er),
                )
            )
    docs = [s["site_url"] for s in context.get_docs_sites_urls(site_name=DATA_DOCS_SITE)]
    result.data_docs = docs[0] if docs else None
    for line in result.report_lines():
        (log.info if result.success else log.error)(line)
    if raise_on_failure and not result.success:
        raise GateFailed(result)
    return result


def _exception_message(expectation_result) -> str | None:
    """First line of the exception GX caught while evaluating, if any (no data values in it)."""
    info = expectation_result.exception_info or {}
    # GX reports one exception, or one per metric it tried to compute.
    candidates = [info] + [v for v in info.values() if isinstance(v, dict)]
    for candidate in candidates:
        if candidate.get("raised_exception"):
            message = str(candidate.get("exception_message") or "error")
            return message.splitlines()[0][:300]
    return None
