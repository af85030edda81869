"""Console sign-in sessions and CSRF protection.

A session is a signed cookie (itsdangerous) holding a random session id and the
CSRF token bound to it, plus a database row (:mod:`.session_store`) created at sign-in
and deleted at sign-out: a cookie is accepted only while its signature is valid *and*
its row exists, so signing out holds on every process and across restarts. The
signing key is derived from the admin key, so changing ``JDITEM_ADMIN_KEY`` signs
everybody out too.

Every state-changing form carries the session's CSRF token in a hidden
``csrf_token`` field; the sign-in form (no session yet) uses a short-lived
double-submit cookie instead.

A *flash* (the one-line message a page shows after a redirect, "Token saved.") travels
in the redirect's query string, signed with the same key and valid for
:data:`FLASH_MAX_AGE`: a page shows only messages the server wrote, never text someone
put in a link (``/console/login?flash=Your account is locked, call …``).
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import time
from dataclasses import dataclass

from itsdangerous import BadSignature, URLSafeTimedSerializer
from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import Response

SESSION_COOKIE = "jditem_console"
LOGIN_CSRF_COOKIE = "jditem_console_login"
CSRF_FIELD = "csrf_token"
SESSION_MAX_AGE = 12 * 3600
LOGIN_CSRF_MAX_AGE = 3600
FLASH_MAX_AGE = 600
COOKIE_PATH = "/console"


class SignInRequired(Exception):
    """Raised by page dependencies when the request carries no valid session."""

    def __init__(self, next_path: str) -> None:
        super().__init__("sign in to the console first")
        self.next_path = next_path


class CsrfRejected(Exception):
    """Raised when a form arrives without the CSRF token of the current session."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class ConsoleDisabled(Exception):
    """Raised when no admin key is configured (the console is then switched off)."""


@dataclass(frozen=True)
class ConsoleSession:
    """A signed-in console session."""

    sid: str
    csrf: str
    issued_at: float


@dataclass
class SessionKeeper:
    """Signs and verifies console session cookies for one admin key."""

    admin_key: str

    def __post_init__(self) -> None:
        secret = hashlib.sha256(b"jditem-console-v1:" + self.admin_key.encode()).hexdigest()
        self._sessions = URLSafeTimedSerializer(secret, salt="console-session")
        self._login = URLSafeTimedSerializer(secret, salt="console-login-csrf")
        self._flash = URLSafeTimedSerializer(secret, salt="console-flash")

    def __repr__(self) -> str:  # never show the admin key
        return "SessionKeeper(admin_key=***)"

    def check_admin_key(self, candidate: str) -> bool:
        """Constant-time comparison of a submitted key with the admin key."""
        return hmac.compare_digest(candidate.encode(), self.admin_key.encode())

    def new_session(self) -> tuple[ConsoleSession, str]:
        """A fresh session and its signed cookie value."""
        session = ConsoleSession(secrets.token_urlsafe(18), secrets.token_urlsafe(24), time.time())
        value = self._sessions.dumps({"sid": session.sid, "csrf": session.csrf})
        return session, value

    def load(self, cookie: str | None) -> ConsoleSession | None:
        """The session in ``cookie``, or ``None`` if missing, forged or expired.

        Only the signature is checked here; the caller checks the session's row too.
        """
        if not cookie:
            return None
        try:
            data, signed_at = self._sessions.loads(
                cookie, max_age=SESSION_MAX_AGE, return_timestamp=True
            )
        except BadSignature:
            return None
        if not isinstance(data, dict):
            return None
        sid, csrf = data.get("sid"), data.get("csrf")
        if not isinstance(sid, str) or not isinstance(csrf, str):
            return None
        return ConsoleSession(sid, csrf, signed_at.timestamp())

    def sign_flash(self, message: str) -> str:
        """``message`` as a signed query value for :meth:`read_flash`."""
        return self._flash.dumps(message)

    def read_flash(self, value: str | None) -> str | None:
        """The message in a signed flash value, or ``None`` when missing, forged or old."""
        if not value or len(value) > 2000:
            return None
        try:
            message = self._flash.loads(value, max_age=FLASH_MAX_AGE)
        except BadSignature:
            return None
        return message if isinstance(message, str) else None

    def new_login_token(self) -> tuple[str, str]:
        """A (form value, cookie value) pair protecting the sign-in form."""
        token = secrets.token_urlsafe(24)
        return token, self._login.dumps(token)

    def check_login_token(self, form_value: str | None, cookie: str | None) -> bool:
        """True when the sign-in form's token matches its signed cookie."""
        if not form_value or not cookie:
            return False
        try:
            expected = self._login.loads(cookie, max_age=LOGIN_CSRF_MAX_AGE)
        except BadSignature:
            return False
        return isinstance(expected, str) and hmac.compare_digest(expected, form_value)


def set_cookie(request: Request, response: Response, name: str, value: str, max_age: int) -> None:
    """Set a console cookie: HttpOnly, SameSite=Strict, path /console, Secure on https."""
    response.set_cookie(
        name,
        value,
        max_age=max_age,
        path=COOKIE_PATH,
        httponly=True,
        samesite="strict",
        secure=request.url.scheme == "https",
    )


def clear_cookie(response: Response, name: str) -> None:
    """Delete a console cookie."""
    response.delete_cookie(name, path=COOKIE_PATH, httponly=True, samesite="strict")


def verify_csrf(session: ConsoleSession, form: FormData) -> None:
    """Raise :class:`CsrfRejected` unless ``form`` carries the session's CSRF token."""
    submitted = form.get(CSRF_FIELD)
    if not isinstance(submitted, str) or not submitted:
        raise CsrfRejected("the form had no CSRF token")
    if not hmac.compare_digest(submitted.encode(), session.csrf.encode()):
        raise CsrfRejected("the form's CSRF token does not belong to this session")
