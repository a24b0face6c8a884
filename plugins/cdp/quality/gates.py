"""Running a checkpoint kept as code under `expectations/checkpoints/<name>.yml`.

Each file names warehouse tables (or one in-memory dataframe, such as an activation's payload)
and the expectations that must hold for them. A checkpoint runs as a real Great Expectations
checkpoint and adds its run to Data Docs; a failed one raises `GateFailed` with a report that
names the expectation, the table and the count, with keys of failing rows as samples, never a
row's values (no PII): for a dataframe the values of its `key` column (profile ids), for a
warehouse table the non-PII keys (SAMPLE_KEYS) an unexpected-rows query selects.
"""

from __future__ import annotations

import logging
import re
import string
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import cache
from pathlib import Path

import yaml

from cdp import settings
from cdp.warehouse import resolve_url

log = logging.getLogger(__name__)
DATA_DOCS_SITE = "cdp"
RESULTS_STORE = "cdp_validation_results"
MAX_SAMPLES = 10
# Columns an unexpected-rows query may select to name its failing rows in the report: keys that
# identify no person (a profile id is the platform's own pseudonymous key; source, file and dt
# name a drop; an audience is configuration). Any other column the query selects (a CRM id, a
# value) is counted, never shown.
SAMPLE_KEYS = ("profile_id", "source", "file", "dt", "audience")
# What of an expectation's result is kept, logged and rendered: counts, never row values.
SAFE_RESULT_KEYS = frozenset(
    {
        "observed_value",
        "element_count",
        "missing_count",
        "missing_percent",
        "unexpected_count",
        "unexpected_percent",
        "unexpected_percent_total",
        "unexpected_percent_nonmissing",
    }
)


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
    samples: list[str] = field(default_factory=list)  # key values of failing rows (SAMPLE_KEYS), no PII
    sample_key: str | None = None  # the column(s) the samples come from, e.g. "profile_id" or "source/file"


@dataclass
class GateResult:
    checkpoint: str
    success: bool
    outcomes: list[ExpectationOutcome] = field(default_factory=list)
    data_docs: str | None = None
    subject: str | None = None  # what was checked, when not the whole warehouse (e.g. an activation)

    @property
    def failed(self) -> list[ExpectationOutcome]:
        return [o for o in self.outcomes if not o.success]

    def report_lines(self) -> list[str]:
        status = "passed" if self.success else "FAILED"
        passed = f"{len(self.outcomes) - len(self.failed)}/{len(self.outcomes)}"
        subject = f" for {self.subject}" if self.subject else ""
        lines = [f"gate {self.checkpoint}{subject}: {status} ({passed})"]
        for o in self.failed:
            if o.error:
                lines.append(f"  ERROR {o.table}: {o.expectation} ({o.description}): {o.error}")
                continue
            count = f", {o.unexpected_count} unexpected row(s)" if o.unexpected_count is not None else ""
            observed = f" observed={o.observed}" if o.observed is not None else ""
            samples = f", e.g. {o.sample_key} {', '.join(o.samples)}" if o.samples else ""
            lines.append(f"  FAILED {o.table}: {o.expectation} ({o.description}){observed}{count}{samples}")
        if self.data_docs:
            lines.append(f"  Data Docs: {self.data_docs}")
        return lines


def checkpoint_file(name: str) -> Path:
    return settings.expectations_dir() / "checkpoints" / f"{name}.yml"


def checkpoint_names() -> list[str]:
    return sorted(p.stem for p in checkpoint_file("*").parent.glob("*.yml"))


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


def _context(url: str | None):
    """An ephemeral GX context: suites come from our files; validation results and Data Docs stay in the
    state folder, so the Data Docs index lists every run, not only the last one."""
    import great_expectations as gx
    from great_expectations.data_context.types.base import ProgressBarsConfig

    context = gx.get_context(mode="ephemeral")
    context.variables.progress_bars = ProgressBarsConfig(globally=False)
    results_dir = settings.state_dir() / "gx" / "validations"
    context.add_store(
        RESULTS_STORE,
        {
            "class_name": "ValidationResultsStore",
            "store_backend": {"class_name": "TupleFilesystemStoreBackend", "base_directory": str(results_dir)},
        },
    )
    context.variables.validation_results_store_name = RESULTS_STORE
    docs_dir = settings.data_docs_dir()
    context.add_data_docs_site(
        site_name=DATA_DOCS_SITE,
        site_config={
            "class_name": "SiteBuilder",
            "store_backend": {"class_name": "TupleFilesystemStoreBackend", "base_directory": str(docs_dir)},
            "site_index_builder": {"class_name": "DefaultSiteIndexBuilder"},
        },
    )
    if url:
        context.data_sources.add_postgres(name="warehouse", connection_string=url)
    return context


def _substitute(value, variables: dict, escape_braces: bool = False):
    """`$name` placeholders filled from `variables`; a value that is exactly `$name` of a list becomes the list."""
    if not isinstance(value, str):
        return value
    if value.startswith("$") and isinstance(variables.get(value[1:]), list | tuple):
        return list(variables[value[1:]])
    # GX formats queries with str.format: a brace coming from a variable must reach SQL as a literal.
    flat = {k: str(v).replace("{", "{{").replace("}", "}}") if escape_braces else str(v) for k, v in variables.items()}
    return string.Template(value).safe_substitute(flat)


def _expand(spec: dict, variables: dict) -> list[tuple[dict, dict]]:
    """An expectation spec with the variables it is built with; `for_each: {var: $list}` makes one per item."""
    if not spec.get("for_each"):
        return [(spec, variables)]
    ((var, source),) = spec["for_each"].items()
    return [(spec, {**variables, var: item}) for item in _substitute(source, variables)]


def _build_expectation(spec: dict, variables: dict):
    kwargs = {
        key: _substitute(value, variables, escape_braces=key == "unexpected_rows_query")
        for key, value in spec.get("kwargs", {}).items()
    }
    cls = _expectation_classes().get(spec["type"])
    if cls is None:
        raise ValueError(f"unknown expectation type {spec['type']!r}")
    if spec.get("description"):
        kwargs["description"] = _substitute(spec["description"], variables)
    return cls(**kwargs)


def _add_validation(context, checkpoint: str, index: int, validation: dict, variables: dict):
    """The validation definition of one `table:` (warehouse) or `dataframe:` (in memory) entry."""
    import great_expectations as gx

    subject = validation.get("table") or validation["dataframe"]
    if "table" in validation:
        schema, table = validation["table"].split(".", 1)
        asset = context.data_sources.get("warehouse").add_table_asset(
            name=f"{subject}#{index}", table_name=table, schema_name=schema
        )
        batch = asset.add_batch_definition_whole_table("whole table")
    else:
        asset = context.data_sources.add_or_update_pandas("memory").add_dataframe_asset(name=f"{subject}#{index}")
        batch = asset.add_batch_definition_whole_dataframe("whole dataframe")
    suite = context.suites.add(gx.ExpectationSuite(name=f"{checkpoint}.{subject}"))
    for spec in validation["expectations"]:
        for one, values in _expand(spec, variables):
            suite.add_expectation(_build_expectation(one, values))
    return context.validation_definitions.add(
        gx.ValidationDefinition(name=f"{checkpoint}.{subject}", data=batch, suite=suite)
    )


def _sample_key(definition: dict) -> str | None:
    """The column a dataframe validation names as `key`: its values identify failing rows (profile ids)."""
    return next((v.get("key") for v in definition["validations"] if "dataframe" in v), None)


def _result_format(key: str | None) -> dict:
    """COMPLETE, so that failing rows can be named: an unexpected-rows query's rows (GX fetches them
    anyway, at most 200) and, for a dataframe, the key column's values of the failing rows. Only
    SAMPLE_KEYS or the key become the report's samples; everything else is removed before anything
    is stored or rendered."""
    keys = {"unexpected_index_column_names": [key]} if key else {}
    return {"result_format": "COMPLETE", "partial_unexpected_count": 0, "return_unexpected_index_query": False} | keys


def _samples(result: dict, key: str | None) -> tuple[str | None, list[str]]:
    """(the key, its values in up to MAX_SAMPLES failing rows), never the failing values themselves.

    A dataframe's rows are named by its `key`; an unexpected-rows query's by the SAMPLE_KEYS it
    selects (several join with "/": source/file).
    """
    if key:
        rows = [{key: row[key]} for row in result.get("unexpected_index_list") or [] if key in row]
        keys = [key]
    else:
        rows = (result.get("details") or {}).get("unexpected_rows") or []
        keys = [k for k in SAMPLE_KEYS if rows and k in rows[0]]
    if not keys:
        return None, []
    seen = dict.fromkeys("/".join(str(row[k]) for k in keys) for row in rows)
    return "/".join(keys), list(seen)[:MAX_SAMPLES]


def run_checkpoint(
    name: str,
    variables: dict | None = None,
    raise_on_failure: bool = True,
    dataframe=None,
    subject: str | None = None,
) -> GateResult:
    """Run expectations/checkpoints/<name>.yml.

    `variables` fill `$name` placeholders; `dataframe` is the pandas frame a `dataframe:` validation
    checks (a checkpoint validates warehouse tables or one dataframe); `subject` says what was
    checked (e.g. an activation). Data Docs name the run by checkpoint, subject and run date.
    """
    import great_expectations as gx
    from great_expectations.core.run_identifier import RunIdentifier

    variables = variables or {}
    with open(checkpoint_file(name), encoding="utf-8") as fh:
        definition = yaml.safe_load(fh)
    on_tables = any("table" in v for v in definition["validations"])
    if on_tables == (dataframe is not None):
        wanted = "warehouse tables, not a dataframe" if on_tables else "a dataframe (e.g. through check_payload)"
        raise ValueError(f"checkpoint {name} validates {wanted}")
    context = _context(resolve_url() if on_tables else None)
    key = _sample_key(definition)
    checkpoint = context.checkpoints.add(
        gx.Checkpoint(
            name=name,
            validation_definitions=[
                _add_validation(context, name, i, v, variables) for i, v in enumerate(definition["validations"])
            ],
            actions=[],  # Data Docs are built below, once no row value is left in the results
            result_format=_result_format(key),
        )
    )
    run_name = " ".join(str(p) for p in (name, subject, variables.get("run_date")) if p)
    run_id = RunIdentifier(run_name=run_name, run_time=datetime.now(UTC))
    run = checkpoint.run(batch_parameters={"dataframe": dataframe} if dataframe is not None else None, run_id=run_id)
    result = GateResult(name, bool(run.success), subject=subject)
    for result_id, validation_result in run.run_results.items():
        checked = validation_result.suite_name.removeprefix(f"{name}.")
        for er in validation_result.results:
            config = er.expectation_config
            sample_key, samples = _samples(er.result, key) if not er.success else (None, [])
            result.outcomes.append(
                ExpectationOutcome(
                    table=checked,
                    expectation=config.type,
                    description=config.description or "",
                    success=bool(er.success),
                    observed=er.result.get("observed_value"),
                    unexpected_count=er.result.get("unexpected_count"),
                    error=_exception_message(er),
                    samples=samples,
                    sample_key=sample_key,
                )
            )
            er.result = {k: v for k, v in er.result.items() if k in SAFE_RESULT_KEYS}
        context.validation_results_store.set(result_id, validation_result)
    context.build_data_docs(site_names=[DATA_DOCS_SITE], resource_identifiers=list(run.run_results))
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
