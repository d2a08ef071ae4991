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

#: Whether instance ``i``'s version may be claimed: its comparison with the
#: worker's version (fold ?5, num ?6), as :func:`perdure.core.versions.compare_keys`
#: computes it, lies in ?7..?8 (-1..1: any version, and nothing is compared).
#: Entities (ids starting with "@") have no version: every worker runs them.
VERSION_OK = (
    "((?7 = -1 AND ?8 = 1) OR (i.instance_id >= '@' AND i.instance_id < 'A') OR (CASE"
    " WHEN i.version_fold = '' OR ?5 = '' THEN (i.version_fold <> '') - (?5 <> '')"
    " WHEN i.version_num IS NOT NULL AND ?6 IS NOT NULL"
    " THEN (i.version_num > ?6) - (i.version_num < ?6)"
    " ELSE (i.version_fold > ?5) - (i.version_fold < ?5) END) BETWEEN ?7 AND ?8)")


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
    claim_outlook: str
    claim_instances: str
    claim_by_id: str
    claim_backlog: str
    select_claimed_messages: str
    select_leases: str
    select_unclaimed: str
    delete_history: str
    insert_history: str
    update_after_step: str
    update_after_new_execution: str
    delete_consumed: str
    insert_task: str
    insert_leased_task: str
    any_claimable_task: str
    last_insert_rowid: str
    park_instance: str
    unpark_instance: str
    unpark_instances: str
    release_instance: str
    claim_tasks: str
    select_task_tokens: str
    delete_task: str
    renew_task: str
    next_wakeup: str
    count_statuses: str
    backlog: str


_TEMPLATES = parse_queries(
    resources.files(__package__).joinpath("queries.sql").read_text(encoding="utf-8"))

#: The SQLite task hub's statements.
SQL = bind_queries(Queries, _TEMPLATES, {"columns": INSTANCE_COLUMNS, "ids": IDS,
                                         "ids4": IDS.replace("?", "?4"),
                                         "version_ok": VERSION_OK})

#: The same statements with each set of values a single one, bound as itself (see
#: :func:`perdure.store.sqlite.transitions.by_ids`): steps, results and claims of
#: one instance, the common case of a lightly loaded hub.
SQL_ONE = bind_queries(Queries, _TEMPLATES, {"columns": INSTANCE_COLUMNS, "ids": "(?)",
                                             "ids4": "(?4)", "version_ok": VERSION_OK})

__all__ = ["IDS", "SQL", "VERSION_OK", "Queries"]
