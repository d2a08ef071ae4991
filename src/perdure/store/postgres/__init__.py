"""The scale-out task hub: PostgreSQL, shared by any number of processes and machines.

* :mod:`.store`: :class:`PostgresStore`, the facade: URL options, the
  connection pool, retries after a lost connection, and what each protocol
  method commits and announces.
* :mod:`.transitions`: each state transition as a function of one connection.
* ``queries.sql`` (loaded by :mod:`.queries`): every statement, by name.
* :mod:`.wakeups`: who learns of a commit, and when (``LISTEN/NOTIFY``).
* ``migrations/``: the numbered schema scripts.
"""

from .store import (
    DEFAULT_SCHEMA,
    MIGRATIONS,
    PostgresStore,
    migrate,
    parse_postgres_url,
    quote_ident,
)

__all__ = ["DEFAULT_SCHEMA", "MIGRATIONS", "PostgresStore", "migrate", "parse_postgres_url",
           "quote_ident"]
