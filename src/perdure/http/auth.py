"""Keys: the system key, function keys, and tokens scoped to one operation of one instance.

Durable Functions protects its management API with one system key passed as
the ``code`` query parameter (or the ``x-functions-key`` header), and every
check-status URL it hands out carries that key: one leaked status URL opens
every instance. perdure's payload URLs carry instead tokens derived from the
system key (HMAC-SHA256) over three things:

* the **operation**: the status URL's token only reads, the terminate URL's
  only terminates, and so on (:data:`OPERATIONS`); so a status URL shown on a
  dashboard or given to a customer cannot stop, rewind or purge the instance;
* the **instance id**: a token never opens another instance;
* the instance's **generation**, its creation time (``created_at``, to the
  microsecond): a purged and re-created instance, or one replaced by a new
  start or an in-place restart, gets new tokens and the old ones stop working.
  Not the execution id, which changes at every ``continue_as_new``: that
  would break the status URL of every eternal orchestration, whereas
  ``created_at`` is kept across continue-as-new and new at every creation.

Tokens need no storage and agree across every ``perdure serve`` process given
the same key; changing the key revokes them all.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
from collections.abc import Collection
from datetime import UTC, datetime, timedelta
from typing import Literal

from starlette.requests import Request

from ..core.errors import InvalidArgumentError

AuthLevel = Literal["anonymous", "function", "admin", "system"]
"""Who may call a route: anyone, a function key holder, or the system key holder
(``admin``; ``system`` is the management API, whose instance routes also take
the instance's operation tokens)."""

AUTH_LEVELS: tuple[str, ...] = ("anonymous", "function", "admin", "system")
KEY_HEADER = "x-functions-key"
KEY_PARAMETER = "code"
_TOKEN_CONTEXT = b"perdure instance token v2"
TOKEN_PREFIX = "i2."
OPERATIONS: tuple[str, ...] = ("read", "raiseEvent", "terminate", "suspend", "resume",
                               "rewind", "restart", "purge")
"""What an instance token can open: ``read`` is ``GET instances/{id}`` (the status
URL), ``purge`` is ``DELETE instances/{id}``, the others ``POST instances/{id}/<op>``."""
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_ONE_US = timedelta(microseconds=1)


def generate_key() -> str:
    """A fresh random key (256 bits, URL-safe)."""
    return secrets.token_urlsafe(32)


class KeyAuth:
    """Checks the key a request presents against a route's level.

    With ``system_key=None`` authentication is off and every route is open.
    """

    def __init__(self, system_key: str | None = None,
                 function_keys: Collection[str] = ()) -> None:
        for key in (system_key, *function_keys):
            if key is not None and (not key or not key.isprintable() or " " in key):
                raise InvalidArgumentError("keys must be non-empty printable strings "
                                           "without spaces")
        self.system_key = system_key
        self.function_keys = tuple(function_keys)

    @property
    def enabled(self) -> bool:
        """Whether keys are required at all."""
        return self.system_key is not None

    def instance_token(self, instance_id: str, operation: str, generation: datetime) -> str:
        """The token that opens ``operation`` on ``instance_id`` while it is the
        instance created at ``generation`` (its ``created_at``), and nothing else."""
        if self.system_key is None:
            raise InvalidArgumentError("instance tokens need a system key")
        if operation not in OPERATIONS:
            raise InvalidArgumentError(f"unknown instance operation {operation!r}; known: "
                                       f"{', '.join(OPERATIONS)}")
        # Neither the operation nor the number holds a NUL, so the fields cannot
        # run into each other; the id, last, is then everything that remains.
        message = b"\x00".join((_TOKEN_CONTEXT, operation.encode(),
                                 str(generation_us(generation)).encode(),
                                 instance_id.encode("utf-8", "surrogatepass")))
        digest = hmac.new(self.system_key.encode(), message, hashlib.sha256).digest()
        return TOKEN_PREFIX + base64.urlsafe_b64encode(digest).rstrip(b"=").decode()

    def url_query(self, instance_id: str, operation: str,
                  generation: datetime | None) -> str | None:
        """The query that opens ``operation`` of ``instance_id`` (``code=<token>``).

        ``""`` with keys off; ``None`` when keys are on but the instance's
        generation is unknown (the caller must read the instance first).
        """
        if self.system_key is None:
            return ""
        if generation is None:
            return None
        return f"{KEY_PARAMETER}={self.instance_token(instance_id, operation, generation)}"

    def token_operation(self, presented: str, instance_id: str,
                        generation: datetime) -> str | None:
        """The operation ``presented`` opens on this generation of the instance, or ``None``.

        Every operation's token is compared (in constant time), so the answer
        takes the same time whichever one matched.
        """
        if self.system_key is None or not presented.startswith(TOKEN_PREFIX):
            return None
        found = None
        for operation in OPERATIONS:
            if _same(presented, self.instance_token(instance_id, operation, generation)):
                found = operation
        return found

    def is_system_key(self, presented: str | None) -> bool:
        """Whether ``presented`` is the system key (always false with keys off)."""
        return self.system_key is not None and presented is not None \
            and _same(presented, self.system_key)

    @staticmethod
    def presented_key(request: Request) -> str | None:
        """The key in the ``x-functions-key`` header, else in the ``code`` parameter."""
        header = request.headers.get(KEY_HEADER)
        if header:
            return header
        for name, value in request.query_params.multi_items():
            if name.lower() == KEY_PARAMETER and value:
                return value
        return None

    def allows(self, request: Request, level: str) -> bool:
        """Whether the request's key opens a route of ``level``.

        Instance tokens are not checked here: they depend on the instance's
        stored generation (see :meth:`token_operation`).
        """
        if self.system_key is None or level == "anonymous":
            return True
        key = self.presented_key(request)
        if key is None:
            return False
        if _same(key, self.system_key):
            return True
        if level == "function":
            return any(_same(key, k) for k in self.function_keys)
        return False


def generation_us(generation: datetime) -> int:
    """An instance generation (its ``created_at``) as integer microseconds since the epoch.

    Integer arithmetic, as the stores keep ``created_at``: the value the client
    set and the value read back agree exactly. Naive values are taken as UTC.
    """
    if generation.tzinfo is None:
        generation = generation.replace(tzinfo=UTC)
    return (generation - _EPOCH) // _ONE_US


def _same(presented: str, expected: str) -> bool:
    # Constant-time on the bytes; a non-ASCII key simply never matches.
    return hmac.compare_digest(presented.encode("utf-8", "surrogatepass"),
                               expected.encode("utf-8", "surrogatepass"))
