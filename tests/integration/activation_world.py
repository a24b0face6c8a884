"""A small warehouse world for activation tests: profiles, consent and one audience table, edited day by day.

The tables have the columns of the warehouse-outputs contract that activation reads; tests
change them between "days" the way a daily build would.
"""

from __future__ import annotations

import json
from pathlib import Path

import yaml

PEOPLE_SQL = """
create schema if not exists profiles;
create schema if not exists audiences;
create table profiles.profiles (
    profile_id text primary key, email text, phone text, first_name text, last_name text, country text
);
create table profiles.consent (profile_id text, purpose text, status text);
"""


def seed(
    db, count: int, denied: set[int] = frozenset(), no_email: set[int] = frozenset(), audience: str = "aud_test"
) -> None:
    """`count` people, all in the audience, consenting to everything except `denied`."""
    with db.cursor() as cur:
        cur.execute(PEOPLE_SQL)
        cur.execute(f"create table audiences.{audience} (profile_id text primary key)")
        cur.execute(
            "insert into profiles.profiles select 'P' || lpad(i::text, 5, '0'),"
            " case when i = any(%s) then null else 'person' || i || '@example.com' end,"
            " '+3361' || lpad(i::text, 7, '0'), 'Ann', 'Lee' || i, 'FR' from generate_series(1, %s) i",
            (list(no_email), count),
        )
        cur.execute(
            "insert into profiles.consent select p.profile_id, purpose,"
            " case when substr(p.profile_id, 2)::int = any(%s) then 'denied' else 'granted' end"
            " from profiles.profiles p, unnest(array['email_marketing', 'ad_targeting']) purpose",
            (list(denied),),
        )
        cur.execute(f"insert into audiences.{audience} select profile_id from profiles.profiles")
    db.commit()


def execute(db, sql: str, params=None) -> None:
    with db.cursor() as cur:
        cur.execute(sql, params)
    db.commit()


def rows(db, sql: str, params=None) -> list[tuple]:
    with db.cursor() as cur:
        cur.execute(sql, params)
        result = cur.fetchall()
    db.commit()
    return result


def consented(db, purpose: str = "email_marketing", audience: str = "aud_test") -> set[str]:
    """Audience members who may be activated for `purpose` and have an email: what a destination must hold."""
    return {
        pid
        for (pid,) in rows(
            db,
            f"select a.profile_id from audiences.{audience} a join profiles.profiles p using (profile_id)"
            " join profiles.consent c using (profile_id)"
            " where c.purpose = %s and c.status = 'granted' and p.email is not null",
            (purpose,),
        )
    }


def write_activations(path: Path, *entries: dict) -> Path:
    path.write_text(yaml.safe_dump({"activations": list(entries)}))
    return path


def connection_env(monkeypatch, connection_id: str, **fields) -> None:
    """An Airflow connection in the environment, as AIRFLOW_CONN_<ID> JSON."""
    monkeypatch.setenv(f"AIRFLOW_CONN_{connection_id.upper()}", json.dumps(fields))


WEBHOOK = {
    "name": "hook",
    "audience": "aud_test",
    "destination": "webhook",
    "connection": "test_hook",
    "purpose": "email_marketing",
    "mode": "incremental",
    "identities": {"email": "email"},
    "fields": {"last_name": "last_name"},
    "retry": {"base_seconds": 0.01, "max_seconds": 0.05, "timeout_seconds": 5},
}
META = {
    "name": "meta",
    "audience": "aud_test",
    "destination": "meta_custom_audiences",
    "connection": "test_meta",
    "purpose": "ad_targeting",
    "mode": "incremental",
    "identities": {"EXTERN_ID": "profile_id", "EMAIL": "email", "PHONE": "phone", "LN": "last_name"},
    "options": {"audience_id": "2385000000001"},
    "retry": {"base_seconds": 0.01, "max_seconds": 0.05, "timeout_seconds": 5},
}
