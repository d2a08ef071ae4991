"""The PostgreSQL task hub's named queries: ``queries.sql``, loaded once at import.

:class:`Queries` has one attribute per query of the file, so a misspelt
query name is a type error (and a query missing from the file or from the
class stops the import). :meth:`Queries.for_schema` fills in the schema
and the shared fragments once per store; see the head of ``queries.sql``.
"""

from __future__ import annotations

from dataclasses import dataclass
from importlib import resources

from ..clock import Clock
from ..codec import INSTANCE_COLUMNS
from ..queries import bind_queries, check_queries, parse_queries

#: The server's clock in microseconds since the epoch (one value per statement).
NOW = "(extract(epoch FROM statement_timestamp()) * 1000000)::bigint"
#: Whether instance ``i``'s version may be claimed: its comparison with the
#: worker's version (``v_fold``, ``v_num``), as
#: :func:`perdure.core.versions.compare_keys` computes it, lies in
#: ``v_low..v_high`` (-1..1: any version, and nothing is compared). Entities
#: (ids starting with "@") have no version: every worker runs them.
VERSION_OK = (
    "((%(v_low)s::int = -1 AND %(v_high)s::int = 1)"
    " OR (i.instance_id >= '@' AND i.instance_id < 'A') OR (CASE"
    " WHEN i.version_fold = '' OR %(v_fold)s::text = ''"
    " THEN (i.version_fold <> '')::int - (%(v_fold)s::text <> '')::int"
    " WHEN i.version_num IS NOT NULL AND %(v_num)s::text IS NOT NULL"
    " THEN (i.version_num > %(v_num)s::text)::int - (i.version_num < %(v_num)s::text)::int"
    " ELSE (i.version_fold > %(v_fold)s::text)::int - (i.version_fold < %(v_fold)s::text)::int"
    " END) BETWEEN %(v_low)s::int AND %(v_high)s::int)")

#: See ``{relaxed}`` in ``queries.sql``.
RELAXED = "(SELECT set_config('synchronous_commit', 'off', true)) AS relaxed"

TEMPLATES = parse_queries(
    resources.files(__package__).joinpath("queries.sql").read_text(encoding="utf-8"))


@dataclass(frozen=True, slots=True)
class Queries:
    """The statements of one task hub, with its schema and clock filled in."""

    #: The task hub's quoted schema (for the statements built at run time).
    schema: str
    #: The clock the statements' ``{now}`` follows (its offset is in their text).
    clock: Clock
    select_instance: str
    select_instances: str
    select_history: str
    select_generations: str
    select_histories: str
    create_many: str
    lock_status: str
    insert_instance: str
    insert_start: str
    insert_messages_if_exist: str
    delete_leftovers: str
    delete_instances: str
    send_message: str
    purge_lock: str
    register: str
    known_orchestrators: str
    claim_orchestrations: str
    claimed_messages: str
    lock_leases: str
    lock_unclaimed: str
    lock_task_tokens: str
    delete_history: str
    insert_history: str
    update_after_step: str
    delete_consumed: str
    insert_tasks: str
    commit_steps: str
    notify: str
    park_instance: str
    unpark_instance: str
    unpark_instances: str
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
    count_statuses: str
    backlog: str

    @classmethod
    def for_schema(cls, quoted_schema: str, clock: Clock) -> Queries:
        """The statements of the hub in ``quoted_schema`` (a quoted identifier), reading
        the server's clock moved by ``clock``'s offset (bind again when it advances)."""
        now = NOW if clock.offset_us == 0 else f"({NOW} + {int(clock.offset_us)})"
        return bind_queries(cls, TEMPLATES, {"s": quoted_schema, "now": now,
                                             "columns": INSTANCE_COLUMNS, "relaxed": RELAXED,
                                             "version_ok": VERSION_OK},
                            schema=quoted_schema, clock=clock)


check_queries(Queries, TEMPLATES, "schema", "clock")
