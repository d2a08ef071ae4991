"""The PostgreSQL task hub's named queries: ``queries.sql``, loaded once at import.

:class:`Queries` has one attribute per query of the file, so a misspelt
query name is a type error (and a query missing from the file or from the
class stops the import). :meth:`Queries.for_schema` fills in the schema
and the shared fragments once per store; see the head of ``queries.sql``.
"""

from __future__ import annotations

import dataclasses
import re
from dataclasses import dataclass
from importlib import resources

from ..codec import INSTANCE_COLUMNS

#: The server's clock in microseconds since the epoch (one value per statement).
NOW = "(extract(epoch FROM statement_timestamp()) * 1000000)::bigint"
#: See ``{relaxed}`` in ``queries.sql``.
RELAXED = "(SELECT set_config('synchronous_commit', 'off', true)) AS relaxed"

_NAME = re.compile(r"^-- name: (\w+)[ \t]*$", re.MULTILINE)
_PLACEHOLDER = re.compile(r"\{(s|now|columns|relaxed)\}")


def parse_queries(text: str) -> dict[str, str]:
    """The ``-- name:`` blocks of ``text``: name -> statement, without the comment
    lines that open each block and without the closing semicolon."""
    parts = _NAME.split(text)
    queries: dict[str, str] = {}
    for name, body in zip(parts[1::2], parts[2::2], strict=True):
        lines = body.strip().splitlines()
        while lines and lines[0].lstrip().startswith("--"):
            lines.pop(0)
        if name in queries or not lines:
            raise RuntimeError(f"queries.sql: query {name!r} is repeated or empty")
        queries[name] = "\n".join(lines).strip().removesuffix(";")
    return queries


TEMPLATES = parse_queries(
    resources.files(__package__).joinpath("queries.sql").read_text(encoding="utf-8"))


@dataclass(frozen=True, slots=True)
class Queries:
    """The statements of one task hub, with its schema and clock filled in."""

    #: The task hub's quoted schema (for the statements built at run time).
    schema: str
    select_instance: str
    select_instances: str
    select_history: str
    select_histories: str
    create_many: str
    lock_status: str
    insert_instance: str
    insert_message: str
    insert_messages_if_exist: str
    delete_leftovers: str
    delete_instances: str
    send_message: str
    purge_lock: str
    register: str
    known_orchestrators: str
    claim_orchestrations: str
    lock_leases: str
    delete_history: str
    insert_history: str
    update_after_step: str
    delete_consumed: str
    insert_tasks: str
    commit_steps: str
    notify: str
    release: str
    claim_activities: str
    complete_activities: str
    renew: str
    changed_instances: str
    next_wakeup: str
    register_workers: str
    forget_workers: str
    unregister_workers: str
    live_workers: str
    orchestration_horizon: str
    activity_horizon: str

    @classmethod
    def for_schema(cls, quoted_schema: str) -> Queries:
        """The statements of the hub in ``quoted_schema`` (a quoted identifier)."""
        parts = {"s": quoted_schema, "now": NOW, "columns": INSTANCE_COLUMNS,
                 "relaxed": RELAXED}
        # One pass, so a schema name that looks like a placeholder stays a name.
        return cls(quoted_schema, **{
            name: _PLACEHOLDER.sub(lambda m: parts[m.group(1)], text)
            for name, text in TEMPLATES.items()})


_declared = {field.name for field in dataclasses.fields(Queries)} - {"schema"}
if _declared != set(TEMPLATES):
    raise RuntimeError(f"queries.sql and Queries disagree: {sorted(_declared ^ set(TEMPLATES))}")
