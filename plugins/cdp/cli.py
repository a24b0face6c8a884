"""The `cdp` command: run the pipeline, generate sample data, manage the embedded warehouse."""

from __future__ import annotations

import argparse
import logging
import sys
from datetime import date
from pathlib import Path

import psycopg2

from cdp import settings


def _date(text: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a date (YYYY-MM-DD): {text!r}") from None


def _date_not_after_today(text: str) -> date:
    value = _date(text)
    if value > date.today():  # a run recorded for a later day would be taken as the latest by later runs
        raise argparse.ArgumentTypeError(f"{value} is after today ({date.today()})")
    return value


def _share(text: str) -> float:
    value = float(text)
    if not 0 <= value <= 1:
        raise argparse.ArgumentTypeError(f"a share from 0 to 1: {text!r}")
    return value


def _seconds(text: str) -> float:
    value = float(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"seconds, 0 or more: {text!r}")
    return value


def _whole_number(minimum: int):
    """An argparse type: an integer of at least `minimum`."""

    def parse(text: str) -> int:
        value = int(text)
        if value < minimum:
            raise argparse.ArgumentTypeError(f"a whole number, {minimum} or more: {text!r}")
        return value

    return parse


def _sources(text: str) -> list[str]:
    from cdp.contracts import SOURCES

    names = [s.strip() for s in text.split(",") if s.strip()]
    if not names:  # an empty list would read as "every source"
        raise argparse.ArgumentTypeError(f"no source named; known: {', '.join(SOURCES)}")
    unknown = [n for n in names if n not in SOURCES]
    if unknown:
        raise argparse.ArgumentTypeError(f"unknown source(s) {unknown}; known: {', '.join(SOURCES)}")
    return names


def cmd_run(args) -> int:
    from cdp import pipeline, summary
    from cdp.ingest.loader import DropIncomplete
    from cdp.landing import LandingZoneError

    try:
        results = pipeline.run(
            args.landing,
            args.start,
            args.end,
            sources=args.sources,
            dry_run=args.dry_run,
            wait_seconds=args.wait,
            max_quarantine_share=args.max_quarantine_share,
        )
    except DropIncomplete as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 3
    except LandingZoneError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    report = summary.render(results)
    print(report)
    title = f"Run summary {args.start} .. {args.end}"
    report_file = summary.write_report(f"run-{args.start}-{args.end}", title, report)
    print(f"(summary written to {report_file})")
    stopped = any(a.error for day in results for a in day.activations)
    return 1 if stopped or any(day.error for day in results) else 0


def cmd_generate(args) -> int:
    from cdp.sample_data import generate_landing_zone

    stats = generate_landing_zone(Path(args.out), args.customers, args.days, args.start, seed=args.seed)
    total = sum(stats.rows_per_source.values())
    print(f"wrote {stats.files} files, {total} rows ({stats.malformed_rows} deliberately malformed) to {args.out}")
    for source, rows in sorted(stats.rows_per_source.items()):
        print(f"  {source:<18} {rows:>10}")
    return 0


def cmd_warehouse(args) -> int:
    from cdp.warehouse import redact, resolve_url
    from cdp.warehouse.embedded import EmbeddedWarehouse

    embedded = EmbeddedWarehouse.default()
    if args.action == "start":
        print(embedded.start())
    elif args.action == "stop":
        print("stopped" if embedded.stop() else "not running")
    elif args.action == "status":
        print(f"embedded warehouse in {embedded.root}: {'running' if embedded.is_running() else 'stopped'}")
    elif args.action == "url":
        print(redact(resolve_url()))
    elif args.action == "reset":
        embedded.destroy()
        print(f"deleted {embedded.root}")
    return 0


def cmd_manifest(args) -> int:
    from cdp.dbt_tasks import manifest_state, write_manifest

    if args.if_stale and manifest_state() == "current":
        print(f"{settings.dbt_manifest_path()} is current")
        return 0
    print(f"wrote {write_manifest()}")
    return 0


def cmd_contract(args) -> int:
    from cdp.contracts import SOURCES, describe

    for name in args.sources or list(SOURCES):
        print(describe(SOURCES[name]) + "\n")
    return 0


def cmd_gate(args) -> int:
    from cdp.pipeline import gate_variables
    from cdp.quality import run_checkpoint

    result = run_checkpoint(args.checkpoint, gate_variables(args.date), raise_on_failure=False)
    print("\n".join(result.report_lines()))
    return 0 if result.success else 1


def cmd_governance(args) -> int:
    from cdp.governance import check_configured_project

    report = check_configured_project(args.manifest, args.activations, args.policies)
    print("\n".join(report.lines()))
    return 0 if report.ok else 1


def cmd_activate(args) -> int:
    from cdp.activation.config import UnknownActivation
    from cdp.governance import PolicyViolation
    from cdp.pipeline import activate
    from cdp.quality import GateFailed

    try:
        result = activate(args.name, args.date, dry_run=args.dry_run)
    except UnknownActivation as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except (PolicyViolation, GateFailed) as exc:  # stopped before sending: say why, no traceback
        print(f"error: {exc}", file=sys.stderr)
        return 1
    print(result.log_line())
    return 1 if result.error else 0


def cmd_activations(args) -> int:
    from cdp.activation.config import load_activations
    from cdp.activation.destinations import destination_for

    activations = load_activations()
    if args.pools:  # "<pool> <slots>" per destination instance, for `airflow pools set`
        pools = {a.pool: destination_for(a.destination).pool_slots for a in activations}
        print("\n".join(f"{pool} {slots}" for pool, slots in sorted(pools.items())))
        return 0
    for a in activations:
        print(f"{a.name}: {a.audience} -> {a.destination} ({a.connection_id}, pool {a.pool}), {a.mode}, {a.schedule}")
    return 0


def _not_built(exc: psycopg2.errors.UndefinedTable) -> int:
    """An explain command before the tables it reads were built: say so in one line."""
    missing = str(exc).splitlines()[0]  # relation "profiles.profiles" does not exist
    print(f"error: the warehouse has not been built yet ({missing}): run `cdp run` first", file=sys.stderr)
    return 2


def cmd_audience(args) -> int:
    from cdp.audiences.catalog import load_audiences
    from cdp.audiences.explain import ProfileNotFound, explain, find_profile
    from cdp.warehouse import connect

    audiences = load_audiences()
    if args.action == "list":
        for a in audiences.values():
            print(f"{a.name}: {a.description} (owner {a.owner}, purpose {a.purpose}, refresh {a.refresh})")
        return 0
    if args.audience not in audiences:
        print(f"error: no audience {args.audience!r}; audiences: {', '.join(audiences)}", file=sys.stderr)
        return 2
    try:
        with connect() as conn:
            with conn.cursor() as cur:
                profile_id = find_profile(cur, args.profile, args.identity)
            explanation = explain(conn, audiences[args.audience], profile_id)
    except (ProfileNotFound, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except psycopg2.errors.UndefinedTable as exc:
        return _not_built(exc)
    print("\n".join(explanation.lines()))
    return 0


def cmd_identity(args) -> int:
    from cdp.warehouse import connect

    if args.action == "explain":
        from cdp.identity.explain import explain

        try:
            with connect() as conn:
                explanation = explain(conn, args.namespace, args.value, args.region)
        except LookupError as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 2
        except psycopg2.errors.UndefinedTable as exc:
            return _not_built(exc)
        print("\n".join(explanation.lines()))  # for the engineer at the terminal: values are shown, never logged
        return 0
    from cdp.identity.rebuild import rebuild
    from cdp.transform import BuildFailed

    try:
        run_date, _, stats = rebuild(args.date)
    except (LookupError, BuildFailed) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    print(
        f"identity graph rebuilt for {run_date}: {stats['node_count']} identities, {stats['link_count']} links,"
        f" {stats['rounds']} rounds -> {stats['component_count']} profiles; {stats['profiles_minted']} minted,"
        f" {stats['profiles_merged']} merged, {stats['rejected_link_count']} links not made,"
        f" {stats['cut_identity_count']} identities over the profile cap"
    )
    return 0


def build_parser() -> argparse.ArgumentParser:
    from cdp.contracts import SOURCES
    from cdp.quality.gates import checkpoint_names

    parser = argparse.ArgumentParser(prog="cdp", description=__doc__)
    parser.add_argument("-v", "--verbose", action="store_true", help="log every step")
    sub = parser.add_subparsers(dest="command", required=True)

    run = sub.add_parser("run", help="ingest → build → gates → activation for each day of a date range")
    run.add_argument("--landing", required=True, help="landing zone: a folder, file:///path or s3://bucket/prefix")
    run.add_argument("--start", required=True, type=_date)
    run.add_argument("--end", type=_date, help="last day (default: --start)")
    run.add_argument("--sources", type=_sources, help="comma-separated subset of sources (default: all)")
    run.add_argument("--dry-run", action="store_true", help="plan activations without sending")
    run.add_argument("--wait", type=_seconds, default=0, help="seconds to wait for an incomplete drop's _SUCCESS")
    run.add_argument(
        "--max-quarantine-share",
        type=_share,
        default=0.05,
        help="raw gate: the largest share of a file's rows that may be quarantined",
    )
    run.set_defaults(func=cmd_run)

    gen = sub.add_parser("generate", help="write a sample landing zone that follows the contract")
    gen.add_argument("--out", required=True)
    gen.add_argument("--customers", type=_whole_number(1), default=2000)
    gen.add_argument("--days", type=_whole_number(1), default=3)
    gen.add_argument("--start", type=_date, default=date(2026, 11, 1))
    gen.add_argument("--seed", type=_whole_number(0), default=42)
    gen.set_defaults(func=cmd_generate)

    wh = sub.add_parser("warehouse", help="the embedded warehouse")
    wh.add_argument("action", choices=["start", "stop", "status", "url", "reset"])
    wh.set_defaults(func=cmd_warehouse)

    manifest = sub.add_parser("manifest", help="write the dbt manifest Airflow renders the per-model dbt tasks from")
    manifest.add_argument("--if-stale", action="store_true", help="only when missing or older than the dbt project")
    manifest.set_defaults(func=cmd_manifest)

    contract = sub.add_parser("contract", help="print the landing-zone contract as the loader enforces it")
    contract.add_argument("sources", nargs="*", choices=list(SOURCES), metavar="source")
    contract.set_defaults(func=cmd_contract)

    gate = sub.add_parser("gate", help="run one quality checkpoint for a date")
    gate.add_argument("checkpoint", choices=checkpoint_names())
    gate.add_argument("--date", type=_date, required=True)
    gate.set_defaults(func=cmd_gate)

    gov = sub.add_parser("governance", help="data governance: labels, policies and consent")
    gov_sub = gov.add_subparsers(dest="action", required=True)
    check = gov_sub.add_parser(
        "check", help="every activation against the policies and the dbt labels (exit 1 on a violation; CI runs it)"
    )
    check.add_argument("--manifest", type=Path, help="a dbt manifest.json (default: parse the dbt project)")
    check.add_argument("--activations", type=Path, help="activations file (default: config/activations.yml)")
    check.add_argument("--policies", type=Path, help="policies file (default: config/policies.yml)")
    check.set_defaults(func=cmd_governance)

    act = sub.add_parser("activate", help="run one activation for a date (plan, send, record)")
    act.add_argument("name")
    act.add_argument("--date", type=_date, required=True)
    act.add_argument("--dry-run", action="store_true", help="plan without sending")
    act.set_defaults(func=cmd_activate)

    acts = sub.add_parser("activations", help="list the configured activations")
    acts.add_argument("--pools", action="store_true", help="print each destination pool and its slots")
    acts.set_defaults(func=cmd_activations)

    aud = sub.add_parser("audience", help="audiences: list them, explain a profile's membership")
    aud_sub = aud.add_subparsers(dest="action", required=True)
    aud_sub.add_parser("list", help="every audience with its owner, purpose and refresh").set_defaults(
        func=cmd_audience
    )
    why = aud_sub.add_parser(
        "explain", help="why a profile is or is not in an audience: conditions, values, consent, history"
    )
    why.add_argument("--audience", required=True, help="audience model name, e.g. aud_recent_store_buyers_email")
    who = why.add_mutually_exclusive_group(required=True)
    who.add_argument("--profile", help="profile id")
    who.add_argument("--identity", help="namespace:value, e.g. crm:C-1001 or email:someone@example.com")
    why.set_defaults(func=cmd_audience)

    ident = sub.add_parser("identity", help="identity stitching: explain an identity, rebuild the graph")
    ident_sub = ident.add_subparsers(dest="action", required=True)
    why_identity = ident_sub.add_parser(
        "explain", help="an identity's normalized value, profile, links, source records and rejections"
    )
    why_identity.add_argument("--namespace", required=True, choices=["crm", "loyalty", "email", "phone", "ecid"])
    why_identity.add_argument("--value", required=True, help="the value as any source spells it")
    why_identity.add_argument("--region", default="", help="country for a phone number in national format, e.g. FR")
    why_identity.set_defaults(func=cmd_identity)
    rebuild = ident_sub.add_parser(
        "rebuild", help="apply config/identity_rules.yml to all data: re-normalize, rebuild the graph (ids kept)"
    )
    rebuild.add_argument(
        "--date", type=_date_not_after_today, help="run date to rebuild (default: the latest stitched date)"
    )
    rebuild.set_defaults(func=cmd_identity)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if getattr(args, "end", None) is None and hasattr(args, "start") and args.command == "run":
        args.end = args.start
    if args.command == "run" and args.end < args.start:
        parser.error(f"--end {args.end} is before --start {args.start}")
    logging.basicConfig(
        level=logging.INFO if args.verbose else logging.WARNING,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    if not args.verbose:
        logging.getLogger("cdp").setLevel(logging.INFO)  # our stage reports; libraries stay quiet
    logging.getLogger("great_expectations").setLevel(logging.WARNING)
    try:
        return args.func(args)
    except psycopg2.OperationalError as exc:
        if exc.pgcode is not None:  # the server answered: an error of the work itself
            raise
        # No connection at all (wrong host, port or database, server down): say so in one line.
        print(f"error: cannot reach the warehouse: {str(exc).strip().splitlines()[0]}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
