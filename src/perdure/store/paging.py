"""Keyset paging of instance queries, shared by both SQL dialects.

A page ends after a ``(created_at, instance_id)`` position, which the opaque
continuation token carries (the next page starts after it in the listing's
direction: see :mod:`.listing`). A page is cut at ``page_size`` rows or by a
byte budget on the payloads it carries, whichever comes first.
"""

from __future__ import annotations

import base64
import binascii
import sys
from collections.abc import Sequence

from ..core.errors import InvalidArgumentError
from ..core.names import control_character
from ..core.serialization import value_limits
from .base import InstanceRecord
from .codec import PageRow, decode_json, encode_json, instance_record


def encode_token(created_at_us: int, instance_id: str) -> str:
    """An opaque continuation token: the keyset position after the last row of a page."""
    raw = encode_json([created_at_us, instance_id]).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_token(token: str) -> tuple[int, str]:
    """Decode :func:`encode_token`; anything else raises ``InvalidArgumentError``."""
    try:
        raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
        value = decode_json(raw.decode())
    except (binascii.Error, UnicodeDecodeError, ValueError, RecursionError):
        value = None
    if (isinstance(value, list) and len(value) == 2 and type(value[0]) is int
            and -(2**63) <= value[0] < 2**63 and isinstance(value[1], str)
            and control_character(value[1]) is None):
        return value[0], value[1]
    raise InvalidArgumentError(f"malformed continuation token {token!r}")


def prefix_upper_bound(prefix: str) -> str | None:
    """The least string greater than every string starting with ``prefix``.

    ``prefix <= s < bound`` is then exactly ``s.startswith(prefix)`` in code-point
    order (which is also UTF-8 byte order), so a prefix filter is a range scan
    of the primary key. ``None`` means "no upper bound" (a prefix of U+10FFFF only).
    """
    chars = list(prefix)
    while chars:
        last = ord(chars.pop())
        if last < sys.maxunicode:
            bumped = last + 1
            if 0xD800 <= bumped <= 0xDFFF:  # surrogates never occur in valid text
                bumped = 0xE000
            return "".join(chars) + chr(bumped)
    return None


def page_byte_budget() -> int:
    """Bytes of payload one query page may carry before it is cut (at least 8 MiB).

    A page holds inputs, outputs and custom statuses of up to a thousand
    instances, each up to the value size limit: without a budget one page
    could cost gigabytes to read and serve.
    """
    return max(8 * 1024 * 1024, 2 * value_limits().max_bytes)


#: The payload bytes of an instance row (as characters: close enough for a budget).
PAYLOAD_SIZE = ("coalesce(length(input), 0) + coalesce(length(output), 0) + "
                "coalesce(length(custom_status), 0) + coalesce(length(failure), 0)")


def budgeted_page(inner: str, mark: str, newest_first: bool = False) -> str:
    """Wrap a page query so that it stops after the row that crosses the byte budget.

    ``inner`` selects :data:`~perdure.store.codec.INSTANCE_COLUMNS`, then
    ``PAYLOAD_SIZE AS size``, ordered by ``created_at, instance_id`` (descending
    if ``newest_first``) and limited to ``page_size + 1``; the budget is the
    parameter ``mark``. Each
    row comes back (a :class:`~perdure.store.codec.PageRow`) with its running
    payload total and the count of ``inner``'s rows, which :func:`page_of`
    needs to tell whether the page was cut. The first row always comes back.
    """
    way = " DESC" if newest_first else ""
    return (f"SELECT * FROM (SELECT p.*, sum(p.size) OVER (ORDER BY p.created_at{way}, "
            f"p.instance_id{way} ROWS UNBOUNDED PRECEDING) AS running, count(*) OVER () AS total "
            f"FROM ({inner}) p) w WHERE w.running - w.size < {mark} "
            f"ORDER BY w.created_at{way}, w.instance_id{way}")


def page_of(rows: Sequence[PageRow], page_size: int) -> tuple[list[InstanceRecord], str | None]:
    """Records of a :func:`budgeted_page` query, and the next page's token.

    A page is cut at ``page_size`` rows or by the byte budget, whichever comes
    first; either way the token carries on after its last row.
    """
    if not rows:
        return [], None
    total = rows[0].total
    rows = rows[:page_size]
    last = rows[-1]
    token = encode_token(last.created_at, last.instance_id) if total > len(rows) else None
    return [instance_record(row) for row in rows], token


__all__ = [
    "PAYLOAD_SIZE", "budgeted_page", "decode_token", "encode_token",
    "page_byte_budget", "page_of", "prefix_upper_bound",
]
