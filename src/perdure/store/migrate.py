"""The schema migration runner, one for both SQL dialects.

A dialect keeps its schema as numbered scripts (``0001_init.sql``,
``0002_….sql``) in a folder of its own, and records the applied ones in a
``schema_version`` table. :func:`apply_migrations` decides what to run;
the dialect supplies only its connection and transaction glue as a
:class:`MigrationTarget`. The runner is synchronous: it runs once per open,
on the SQLite store's database thread, and on a worker thread with a
synchronous psycopg connection for PostgreSQL.
"""

from __future__ import annotations

import logging
import re
from contextlib import AbstractContextManager
from importlib.resources.abc import Traversable
from typing import NamedTuple, Protocol

from ..core.errors import StoreSchemaError

logger = logging.getLogger(__name__)

_MIGRATION_NAME = re.compile(r"^(\d{4})_[A-Za-z0-9_]+\.sql$")


class Migration(NamedTuple):
    """One numbered script."""

    version: int
    name: str
    sql: str


def load_migrations(folder: Traversable) -> list[Migration]:
    """The numbered scripts of ``folder``, in order.

    Versions must run 1, 2, 3... without gaps, so a missing file is caught here
    rather than as a half-migrated database.
    """
    found: list[Migration] = []
    for entry in folder.iterdir():
        match = _MIGRATION_NAME.match(entry.name)
        if match:
            found.append(Migration(int(match.group(1)), entry.name,
                                   entry.read_text(encoding="utf-8")))
    found.sort()
    versions = [migration.version for migration in found]
    if versions != list(range(1, len(found) + 1)):
        raise RuntimeError(f"{folder} migrations are not numbered 1..n: {versions}")
    return found


def split_sql(script: str) -> list[str]:
    """Split a migration script into statements at semicolons, dropping ``--`` comment lines.

    A semicolon inside a ``$$`` body (a PostgreSQL function) or inside the
    ``BEGIN`` … ``END`` of a ``CREATE TRIGGER`` (SQLite) does not end the
    statement. Good enough for our own scripts, which keep comments on lines
    of their own and put no semicolon inside a string literal.
    """
    code = "\n".join(ln for ln in script.splitlines() if not ln.lstrip().startswith("--"))
    statements: list[str] = []
    pending = ""
    for piece in code.split(";"):
        pending = f"{pending};{piece}" if pending else piece
        if pending.count("$$") % 2 or _open_trigger_body(pending):
            continue
        if pending.strip():
            statements.append(pending.strip())
        pending = ""
    if pending.strip():
        statements.append(pending.strip())
    return statements


def _open_trigger_body(statement: str) -> bool:
    """Whether ``statement`` is a ``CREATE TRIGGER … BEGIN`` whose ``END`` is still to come."""
    text = statement.strip()
    return (re.match(r"CREATE\s+TRIGGER\b", text, re.IGNORECASE) is not None
            and re.search(r"\bBEGIN\b", text, re.IGNORECASE) is not None
            and re.search(r"\bEND$", text, re.IGNORECASE) is None)


class MigrationTarget(Protocol):
    """A dialect's glue for :func:`apply_migrations`: one connection to one task hub."""

    #: Names the hub in log lines ("SQLite", "PostgreSQL schema perdure").
    label: str

    def installed_version(self) -> int | None:
        """The highest applied version; ``None`` when there is no version table yet."""
        ...

    def migrating(self) -> AbstractContextManager[None]:
        """One transaction that excludes every other migrator of the hub.

        It creates the version table if missing before the body runs, commits
        when the body returns and rolls back when it raises.
        """
        ...

    def execute(self, statement: str) -> None:
        """Run one statement of a script."""
        ...

    def record(self, migration: Migration) -> None:
        """Add ``migration`` to the version table."""
        ...


def apply_migrations(migrations: list[Migration], target: MigrationTarget) -> int:
    """Apply the ``migrations`` that ``target`` lacks; returns the schema version.

    An up-to-date hub is recognised without taking any lock (the common case).
    Otherwise all pending scripts run in one transaction, so two processes
    opening a new hub at once cannot both migrate it. A hub newer than these
    scripts is refused.
    """
    latest = len(migrations)
    if target.installed_version() == latest:
        return latest
    with target.migrating():
        current = target.installed_version() or 0
        if current > latest:
            raise StoreSchemaError(current, latest)
        for migration in migrations[current:]:
            logger.info("applying %s migration %s", target.label, migration.name,
                        extra={"version": migration.version})
            for statement in split_sql(migration.sql):
                target.execute(statement)
            target.record(migration)
    return latest


__all__ = ["Migration", "MigrationTarget", "apply_migrations", "load_migrations", "split_sql"]
