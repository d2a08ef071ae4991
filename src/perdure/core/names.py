"""What instance ids and function and event names may contain, checked at every door.

Each operation checks the ids and names it is given, so that no store ever
sees a NUL or another control character (PostgreSQL cannot even hold NUL in
text) and no two ids are merged on the way in.
"""

from __future__ import annotations

import unicodedata

from .errors import InvalidArgumentError

MAX_INSTANCE_ID_LENGTH = 256
MAX_NAME_LENGTH = 256


def control_character(text: str) -> str | None:
    """The first control character (NUL included) of ``text``, if any."""
    if text.isprintable():  # the common case, in C: no control characters at all
        return None
    return next((c for c in text if unicodedata.category(c) == "Cc"), None)


def _check_text(value: str, what: str, limit: int) -> str:
    if not isinstance(value, str) or not value:
        raise InvalidArgumentError(f"{what} must be a non-empty string, got {value!r}")
    if len(value) > limit:
        raise InvalidArgumentError(f"{what} is {len(value)} characters; the limit is {limit}")
    char = control_character(value)
    if char is not None:
        raise InvalidArgumentError(f"{what} {value!r} contains the control character "
                                   f"{char!r}; control characters are not allowed")
    return value


def check_instance_id(instance_id: str) -> str:
    """Refuse an id no instance can have: not a string, empty, > 256 chars, control chars."""
    return _check_text(instance_id, "instance id", MAX_INSTANCE_ID_LENGTH)


def validate_instance_id(instance_id: str) -> str:
    """Refuse ids Durable Functions refuses for a new instance: those of
    :func:`check_instance_id`, ids with ``/ \\ # ?``, and a leading ``@`` (entities)."""
    check_instance_id(instance_id)
    if instance_id.startswith("@"):
        raise InvalidArgumentError("instance id must not start with '@' (reserved for entities)")
    for char in "/\\#?":
        if char in instance_id:
            raise InvalidArgumentError(
                f"instance id {instance_id!r} contains {char!r}; '/', '\\\\', '#', '?' and "
                "control characters are not allowed")
    return instance_id


def check_name(name: str, kind: str) -> str:
    """Refuse a function or event name that is not a string, empty, > 256 chars or holds
    control characters; ``kind`` names it in the error (``"event"``, ``"activity"``...)."""
    return _check_text(name, f"{kind} name", MAX_NAME_LENGTH)
