"""Members' passwords: the length rules, and argon2id hashing off the event loop.

Hashes are argon2id (argon2-cffi's ``PasswordHasher``: RFC 9106 low-memory profile,
64 MiB, t=3), computed in a thread. An unknown e-mail is verified against a dummy hash,
made once on first use, so a wrong e-mail costs the same time as a wrong password.
"""

from __future__ import annotations

import asyncio
import functools
import secrets

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from jditem.server.accounts.errors import InvalidInputError

MIN_PASSWORD_LENGTH = 12
MAX_PASSWORD_LENGTH = 1024

_HASHER = PasswordHasher()


@functools.cache
def _dummy_hash() -> str:
    return _HASHER.hash(secrets.token_urlsafe(16))


def check_password(password: str) -> None:
    """Refuse passwords that are too short or too long, with what to do."""
    if len(password) < MIN_PASSWORD_LENGTH:
        raise InvalidInputError(
            f"the password is too short: use at least {MIN_PASSWORD_LENGTH} characters "
            "(a few unrelated words make a good one)"
        )
    if len(password) > MAX_PASSWORD_LENGTH:
        raise InvalidInputError(
            f"the password is too long: at most {MAX_PASSWORD_LENGTH} characters"
        )


async def hash_password(password: str) -> str:
    """The argon2id hash of ``password``, computed off the event loop."""
    return await asyncio.to_thread(_HASHER.hash, password)


async def verify_password(password_hash: str | None, password: str) -> bool:
    """True when ``password`` matches ``password_hash``; with no hash (unknown member, no
    password set) the dummy hash is verified, so the answer takes as long and is False."""
    stored = password_hash if password_hash else await asyncio.to_thread(_dummy_hash)

    def verify() -> bool:
        try:
            return _HASHER.verify(stored, password[:MAX_PASSWORD_LENGTH])
        except (VerificationError, InvalidHashError):
            return False

    return await asyncio.to_thread(verify) and password_hash is not None


def needs_rehash(password_hash: str) -> bool:
    """True when ``password_hash`` was made with weaker parameters than today's."""
    return _HASHER.check_needs_rehash(password_hash)
