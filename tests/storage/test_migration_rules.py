"""The zero-downtime rules, read off every migration file (docs/operations/upgrades.md).

Migrations 0001-0005 are allow-listed: they are schema.sql's version blocks as released,
written for the old apply-everything runner (the v3/v5 check constraints dropped and added
again, plain CREATE INDEX on the ledger). History is never edited; a database adopted from
an earlier release never runs them again, and a fresh database runs them on empty tables.
"""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest

from service.storage.migrate import Migration, read_migrations

HISTORIC = {1, 2, 3, 4, 5}
# The tables that grow with traffic: an index on them is built CONCURRENTLY.
LARGE_TABLES = ("votes", "comments", "comment_reports", "audit_log", "login_failures")
# The release before numbered migrations, whose code must keep working on the schema at head.
PREVIOUS_RELEASE = "a4c86ca"
REPO = Path(__file__).parent.parent.parent
VOLATILE = ("random()", "gen_random_uuid()", "clock_timestamp()", "timeofday()", "nextval(")


def _code(sql: str) -> str:
    """The statements without comments, on one line, lower case."""
    no_comments = re.sub(r"--[^\n]*", "", sql)
    return re.sub(r"\s+", " ", no_comments).strip().lower()


def _statements(sql: str) -> list[str]:
    return [s.strip() for s in _code(sql).split(";") if s.strip()]


def violations(
    migration: Migration, later: list[Migration], earlier: list[Migration] | None = None
) -> list[str]:
    """What in `migration` breaks a rule; `earlier` and `later` are the migrations around it."""
    found = []
    rest = " ".join(_code(m.sql) for m in later)
    earlier_code = [_code(m.sql) for m in earlier or []]
    code = _code(migration.sql)
    if not migration.transactional and ("$$" in code or re.search(r"\bdo\b\s", code)):
        found.append("a non-transactional file holds a DO block or a function body")
    if re.search(r"\bset\s+(local\s+)?(lock_timeout|statement_timeout)\b", code):
        found.append("sets its own timeouts (the runner sets lock_timeout)")
    for s in _statements(migration.sql):
        index = re.match(r"create (unique )?index (concurrently )?(if not exists )?\w+ on (\w+)", s)
        if index:
            if index[4] in LARGE_TABLES and not index[2]:
                found.append(f"index on {index[4]} without CONCURRENTLY: {s}")
            if index[2] and migration.transactional:
                found.append(f"CONCURRENTLY inside a transaction: {s}")
        for name in re.findall(r"add constraint (\w+) (?:check|foreign key)", s):
            if "not valid" not in s:
                found.append(f"constraint {name} added without NOT VALID: {s}")
            elif f"validate constraint {name}" not in code + " " + rest:
                found.append(f"constraint {name} is never validated")
        if re.search(r"add constraint \w+ (unique|primary key) \(", s):
            found.append(f"unique constraint built under lock, not USING INDEX: {s}")
        if re.search(r"add column .*\b(references|check)\b", s):
            found.append(f"a new column with an inline check or reference scans the table: {s}")
        if re.search(r"alter column \w+ (set data )?type\b", s):
            found.append(f"ALTER COLUMN TYPE rewrites the table: {s}")
        if "add column" in s and any(v in s for v in VOLATILE):
            found.append(f"a volatile default rewrites the table: {s}")
        if (
            re.search(
                r"\bgenerated always as \(.*\) stored|\bgenerated (always|by default) as identity",
                s,
            )
            and "add column" in s
        ):
            found.append(f"a generated or identity column rewrites the table: {s}")
        if re.search(r"\b(vacuum full|cluster)\b", s):
            found.append(f"rewrites the table: {s}")
        not_null = re.search(r"alter column (\w+) set not null", s)
        proof = rf"check \({not_null[1]} is not null\) not valid" if not_null else ""
        if not_null and not re.search(proof, " ".join([*earlier_code, code])):
            found.append(f"SET NOT NULL without a validated CHECK ({not_null[1]} IS NOT NULL)")
    return found


def _dropped(migration: Migration) -> list[str]:
    names = []
    for s in _statements(migration.sql):
        names += re.findall(r"drop column (?:if exists )?(\w+)", s)
        names += re.findall(r"drop table (?:if exists )?(\w+)", s)
    return names


MIGRATIONS = read_migrations()


@pytest.mark.parametrize("migration", MIGRATIONS, ids=lambda m: m.name)
def test_every_migration_keeps_the_zero_downtime_rules(migration: Migration) -> None:
    if migration.version in HISTORIC:
        pytest.skip("released before numbered migrations (see the module's note)")
    later = [m for m in MIGRATIONS if m.version > migration.version]
    earlier = [m for m in MIGRATIONS if m.version < migration.version]
    assert violations(migration, later, earlier) == []


@pytest.mark.parametrize("migration", MIGRATIONS, ids=lambda m: m.name)
def test_a_contract_step_drops_only_what_the_previous_release_never_reads(
    migration: Migration,
) -> None:
    for name in _dropped(migration):
        used = subprocess.run(
            [
                "git",
                "grep",
                "-w",
                "-l",
                name,
                PREVIOUS_RELEASE,
                "--",
                "service/*.py",  # a pathspec's * spans folders too
            ],
            cwd=REPO,
            capture_output=True,
            text=True,
            check=False,
        )
        assert used.returncode == 1, f"{name} is read by {PREVIOUS_RELEASE}: {used.stdout}"


def test_migrations_are_numbered_without_gaps() -> None:
    assert [m.version for m in MIGRATIONS] == list(range(1, len(MIGRATIONS) + 1))
    for path in (REPO / "service" / "storage" / "migrations").iterdir():
        assert re.match(r"^\d{4}_[a-z0-9_]+\.sql$", path.name), path.name


def _one(sql: str, transactional: bool = True) -> Migration:
    head = "" if transactional else "-- transactional: false\n"
    return Migration(99, "0099_sample", head + sql)


@pytest.mark.parametrize(
    "sql, transactional",
    [
        ("CREATE INDEX votes_x ON votes (cast_at);", False),
        ("CREATE INDEX CONCURRENTLY votes_x ON votes (cast_at);", True),
        ("ALTER TABLE votes ADD CONSTRAINT c CHECK (state <> '');", True),
        ("ALTER TABLE votes ADD CONSTRAINT c CHECK (state <> '') NOT VALID;", True),
        ("ALTER TABLE polls ADD CONSTRAINT u UNIQUE (question);", True),
        ("ALTER TABLE votes ADD COLUMN n integer CHECK (n > 0);", True),
        ("ALTER TABLE votes ALTER COLUMN page_url TYPE varchar(200);", True),
        ("ALTER TABLE votes ADD COLUMN token uuid NOT NULL DEFAULT gen_random_uuid();", True),
        ("ALTER TABLE votes ADD COLUMN n bigint GENERATED ALWAYS AS IDENTITY;", True),
        ("ALTER TABLE votes ALTER COLUMN page_url SET NOT NULL;", True),
        ("VACUUM FULL votes;", False),
        ("SET lock_timeout = 0;", True),
        ("DO $$ BEGIN PERFORM 1; END $$;", False),
    ],
)
def test_the_rules_catch_what_they_forbid(sql: str, transactional: bool) -> None:
    assert violations(_one(sql, transactional), []) != []


@pytest.mark.parametrize(
    "sql, transactional",
    [
        ("CREATE INDEX CONCURRENTLY IF NOT EXISTS votes_x ON votes (cast_at);", False),
        (
            "ALTER TABLE votes ADD CONSTRAINT c CHECK (state <> '') NOT VALID;\n"
            "ALTER TABLE votes VALIDATE CONSTRAINT c;",
            True,
        ),
        ("ALTER TABLE votes ADD COLUMN note text NOT NULL DEFAULT '';", True),
        ("CREATE TABLE reports (id bigint PRIMARY KEY, at timestamptz DEFAULT now());", True),
        (
            "ALTER TABLE votes ADD CONSTRAINT u_nn CHECK (page_url IS NOT NULL) NOT VALID;\n"
            "ALTER TABLE votes VALIDATE CONSTRAINT u_nn;\n"
            "ALTER TABLE votes ALTER COLUMN page_url SET NOT NULL;",
            True,
        ),
    ],
)
def test_the_rules_let_the_safe_forms_through(sql: str, transactional: bool) -> None:
    assert violations(_one(sql, transactional), []) == []
