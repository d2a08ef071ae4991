"""When a SQLite hub cannot take writes: SQLite's refusals, and a hub file gone under us.

Both are the operator's to fix (free disk, make the file writable, restore it),
so the store turns them into :class:`~perdure.core.errors.StoreUnavailableError`
rather than letting a raw ``sqlite3`` error reach a client as a 500.
"""

from __future__ import annotations

import os
import sqlite3

# What SQLite's primary result codes mean for the operator (extended codes,
# e.g. SQLITE_READONLY_DBMOVED, share the low byte).
_UNAVAILABLE = {
    sqlite3.SQLITE_FULL: "the disk holding the hub is full",
    sqlite3.SQLITE_READONLY: "the hub is read-only",
    sqlite3.SQLITE_IOERR: "the disk holding the hub reported an I/O error",
    sqlite3.SQLITE_CANTOPEN: "the hub file cannot be opened",
}
_NEEDLES = (("disk is full", sqlite3.SQLITE_FULL),
            ("readonly database", sqlite3.SQLITE_READONLY),
            ("disk I/O error", sqlite3.SQLITE_IOERR))

HUB_FILE_GONE = ("the hub file was deleted or replaced while the server ran; restart the "
                 "server to open a hub")


def unavailable_reason(exc: sqlite3.OperationalError) -> str | None:
    """The operator's problem behind ``exc`` (full, read-only...), or None for others
    (a busy lock, a bug)."""
    code = getattr(exc, "sqlite_errorcode", None)
    if code is not None:
        return _UNAVAILABLE.get(code & 0xFF)
    text = str(exc)  # an sqlite3 module without error codes
    for needle, primary in _NEEDLES:
        if needle in text:
            return _UNAVAILABLE[primary]
    return None


def file_identity(path: str) -> tuple[int, int] | None:
    """``(st_dev, st_ino)`` of the hub file, or None for an in-memory hub."""
    if path == ":memory:":
        return None
    info = os.stat(path)
    return info.st_dev, info.st_ino


def file_replaced(path: str, identity: tuple[int, int]) -> bool:
    """True when ``path`` no longer exists or is another file than ``identity``.

    SQLite keeps writing to an unlinked file, so without this check every later
    commit would be acknowledged and then lost with the process.
    """
    try:
        info = os.stat(path)
    except FileNotFoundError:
        return True
    except OSError:  # e.g. a permission change: no evidence the file is gone
        return False
    return (info.st_dev, info.st_ino) != identity
