"""The SQLite task hub's named queries: ``queries.sql``, loaded once at import.

:data:`SQL` has one attribute per query of the file (see
:mod:`perdure.store.queries`); the fragments the file names are filled in
here, once.
"""

from __future__ import annotations

from dataclasses import dataclass
from importlib import resources

from ..codec import INSTANCE_COLUMNS
from ..queries import bind_queries, parse_queries

#: A set of values bound as one JSON array parameter.
IDS = "(SELECT value FROM json_each(?))"


@dataclass(frozen=True, slots=True)
class Queries:
    """Every statement of ``queries.sql``, by name."""

    schema_version: str
    create_schema_version: str
    record_migration: str
    select_instance: str
    select_status: str
    select_history: str
    select_generations: str
    select_histories: str
    insert_instance: str
    insert_start: str
    insert_message: str
    insert_message_if_exists: str
    delete_histories: str
    delete_inboxes: str
    delete_instance_tasks: str
    delete_instance_rows: str
    select_purgeable: str
    register_function: str
    known_orchestrators: str
    claim_instances: str
    claim_backlog: str
    select_claimed_messages: str
    select_leases: str
    delete_history: str
    insert_history: str
    update_after_step: str
    delete_consumed: str
    insert_task: str
    release_instance: str
    claim_tasks: str
    select_task_tokens: str
    delete_task: str
    renew_task: str
    next_wakeup: str
    count_statuses: str
    backlog: str


#: The SQLite task hub's statements.
SQL = bind_queries(
    Queries,
    parse_queries(resources.files(__package__).joinpath("queries.sql").read_text(encoding="utf-8")),
    {"columns": INSTANCE_COLUMNS, "ids": IDS})

__all__ = ["IDS", "SQL", "Queries"]
