"""Named queries: SQL kept in a ``.sql`` file as ``-- name: <name>`` blocks.

Each dialect keeps its statements in one ``queries.sql`` and loads it once at
import into a frozen dataclass with one attribute per query, so a misspelt
query name is a type error, and a query missing from the file or from the
class stops the import.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Mapping
from typing import Any, TypeVar

_NAME = re.compile(r"^-- name: (\w+)[ \t]*$", re.MULTILINE)

Q = TypeVar("Q")


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


def check_queries(cls: type[Any], templates: Mapping[str, str], *extra: str) -> None:
    """Raise unless the query names are exactly the fields of the dataclass ``cls``
    other than ``extra`` (run at import, so a missing query stops it)."""
    fields = {f.name for f in dataclasses.fields(cls)} - set(extra)
    if fields != set(templates):
        raise RuntimeError(f"{cls.__name__} and queries.sql disagree: "
                           f"{sorted(fields ^ set(templates))}")


def bind_queries(cls: type[Q], templates: Mapping[str, str], fragments: Mapping[str, str],
                 **extra: Any) -> Q:
    """An instance of the dataclass ``cls`` holding every query of ``templates``,
    each ``{name}`` of ``fragments`` filled in, in one pass (a filled-in value that
    looks like a placeholder stays as it is); ``extra`` sets fields that are no query.

    The query names must be exactly the fields of ``cls`` other than ``extra``.
    """
    check_queries(cls, templates, *extra)
    pattern = re.compile(r"\{(" + "|".join(map(re.escape, fragments)) + r")\}")
    filled = {name: pattern.sub(lambda m: fragments[m.group(1)], sql)
              for name, sql in templates.items()}
    return cls(**filled, **extra)


__all__ = ["bind_queries", "check_queries", "parse_queries"]
