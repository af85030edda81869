"""Errors of the account services (admin, members, caps): ``str(error)`` is the message
a person reads, saying what was wrong and what to do."""

from __future__ import annotations


class AdminError(Exception):
    """Root of the account services' errors; ``str(error)`` is the user-facing message."""


class NotFoundError(AdminError):
    """The named account, token or member does not exist."""


class ConflictError(AdminError):
    """The object already exists (e.g. an account name is taken)."""


class InvalidInputError(AdminError):
    """A value is out of range or malformed."""
