"""The dashboard's session cookie and CSRF tokens.

A session is a random id plus an HMAC over it. With keys on, the MAC key is
derived from the system key, so a session is only ever issued after the key
was presented once (and agrees across ``perdure serve`` processes sharing the
key; changing the key ends every session). With keys off, a random per-process
secret signs it. Each form carries a CSRF token, an HMAC of the session id:
a cross-site page can neither read it nor (``SameSite=Strict``) send the cookie.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets

from starlette.requests import Request
from starlette.responses import Response

from ..auth import KeyAuth

COOKIE = "perdure_dashboard"
COOKIE_PATH = "/dashboard"


class Sessions:
    """Issues and checks dashboard sessions for one :class:`KeyAuth`."""

    def __init__(self, auth: KeyAuth) -> None:
        self.auth = auth
        if auth.system_key is not None:
            self._secret = hmac.new(auth.system_key.encode(), b"perdure dashboard session v1",
                                    hashlib.sha256).digest()
        else:
            self._secret = secrets.token_bytes(32)

    def mac(self, purpose: str, text: str) -> str:
        """The hex HMAC of ``text`` for ``purpose``."""
        return self._mac(purpose, text)

    def mac_ok(self, purpose: str, text: str, presented: str) -> bool:
        """Whether ``presented`` is the (24-digit) MAC of ``text`` for ``purpose``."""
        return len(presented) == 24 and hmac.compare_digest(
            presented.encode(), self._mac(purpose, text)[:24].encode())

    def _mac(self, purpose: str, sid: str) -> str:
        return hmac.new(self._secret, f"{purpose}\x00{sid}".encode(),
                        hashlib.sha256).hexdigest()

    def session_id(self, request: Request) -> str | None:
        """The id of the request's valid session, else ``None``."""
        value = request.cookies.get(COOKIE, "")
        sid, _, mac = value.partition(".")
        if not sid or not mac or not hmac.compare_digest(mac, self._mac("session", sid)):
            return None
        return sid

    def new_session(self) -> str:
        return secrets.token_urlsafe(18)

    def set_cookie(self, response: Response, request: Request, sid: str) -> None:
        response.set_cookie(COOKIE, f"{sid}.{self._mac('session', sid)}", path=COOKIE_PATH,
                            httponly=True, samesite="strict",
                            secure=request.url.scheme == "https")

    def clear_cookie(self, response: Response) -> None:
        response.delete_cookie(COOKIE, path=COOKIE_PATH, httponly=True, samesite="strict")

    def csrf_token(self, sid: str) -> str:
        return self._mac("csrf", sid)

    def csrf_ok(self, sid: str | None, presented: str | None) -> bool:
        return sid is not None and presented is not None \
            and hmac.compare_digest(presented.encode(), self.csrf_token(sid).encode())
