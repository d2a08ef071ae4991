"""Keys: the system key, function keys, and tokens scoped to one instance.

Durable Functions protects its management API with one system key passed as
the ``code`` query parameter (or the ``x-functions-key`` header), and every
check-status URL it hands out carries that key: one leaked status URL opens
every instance. perdure's payload URLs carry instead a token derived from the
system key and the instance id (HMAC-SHA256), which opens that instance's
routes and nothing else. Tokens need no storage, survive restarts, and agree
across every ``perdure serve`` process given the same key.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
from collections.abc import Collection
from typing import Literal

from starlette.requests import Request

from ..core.errors import InvalidArgumentError

AuthLevel = Literal["anonymous", "function", "admin", "system"]
"""Who may call a route: anyone, a function key holder, the system key holder, or
(``system``, the management API) the system key or the instance's scoped token."""

AUTH_LEVELS: tuple[str, ...] = ("anonymous", "function", "admin", "system")
KEY_HEADER = "x-functions-key"
KEY_PARAMETER = "code"
_TOKEN_CONTEXT = b"perdure instance token v1\x00"


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

    def instance_token(self, instance_id: str) -> str:
        """The token that opens ``instance_id``'s management routes (and nothing else)."""
        if self.system_key is None:
            raise InvalidArgumentError("instance tokens need a system key")
        message = _TOKEN_CONTEXT + instance_id.encode("utf-8", "surrogatepass")
        digest = hmac.new(self.system_key.encode(), message, hashlib.sha256).digest()
        return "i1." + base64.urlsafe_b64encode(digest).rstrip(b"=").decode()

    def url_query(self, instance_id: str) -> str:
        """The query to append to an instance's management URLs (``code=<token>``)."""
        if self.system_key is None:
            return ""
        return f"{KEY_PARAMETER}={self.instance_token(instance_id)}"

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

    def allows(self, request: Request, level: str, instance_id: str | None = None) -> bool:
        """Whether the request may call a route of ``level`` (about ``instance_id``)."""
        if self.system_key is None or level == "anonymous":
            return True
        key = self.presented_key(request)
        if key is None:
            return False
        if _same(key, self.system_key):
            return True
        if level == "function":
            return any(_same(key, k) for k in self.function_keys)
        if level == "system" and instance_id is not None:
            return _same(key, self.instance_token(instance_id))
        return False


def _same(presented: str, expected: str) -> bool:
    # Constant-time on the bytes; a non-ASCII key simply never matches.
    return hmac.compare_digest(presented.encode("utf-8", "surrogatepass"),
                               expected.encode("utf-8", "surrogatepass"))
