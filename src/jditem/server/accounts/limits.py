"""What a token's limits, names and permissions may be: one check each, shared by the
admin service, the member caps, the admin API, the CLI and the console."""

from __future__ import annotations

import re
from typing import Any

from jditem.server.accounts.errors import InvalidInputError
from jditem.server.accounts.money import MAX_BUDGET_UNITS, UNITS_PER_YUAN, units_to_yuan
from jditem.server.accounts.names import name_problem, unsafe_character

#: Upper bound of counts (daily quota, ids, offsets).
MAX_COUNT = 10**9
#: Sane bounds of a token's rate limit (requests/second) and burst.
MIN_RATE_LIMIT = 0.001
MAX_RATE_LIMIT = 100_000.0
MAX_BURST = 1_000_000
#: Most entries in a token's permissions, and the form of one entry: an endpoint name
#: such as ``jd/get-item-detail/v2``, or ``*`` for every endpoint.
MAX_PERMISSIONS = 50
_PERMISSION = re.compile(r"\*|[A-Za-z0-9][A-Za-z0-9._/-]{0,99}", re.ASCII)
#: Longest ledger note of a top-up.
MAX_NOTE_LENGTH = 500


def check_name(value: object, what: str, *, required: bool = True) -> str:
    """``value`` stripped, when it may be a name (:mod:`.names`); else InvalidInputError."""
    if not isinstance(value, str):
        raise InvalidInputError(f"{what} must be text")
    text = value.strip()
    problem = name_problem(text, required=required)
    if problem is not None:
        raise InvalidInputError(f"{what} {problem}")
    return text


def check_note(note: str | None) -> None:
    """Refuse a ledger note that is too long or holds control or invisible characters."""
    if note is None:
        return
    if len(note) > MAX_NOTE_LENGTH:
        raise InvalidInputError(f"the note must be at most {MAX_NOTE_LENGTH} characters")
    bad = unsafe_character(note)
    if bad is not None:
        raise InvalidInputError(f"the note must not contain {bad}")


def check_permissions(perms: object) -> None:
    """Refuse permissions that are not a short list of endpoint names (or ``*``)."""
    hint = "e.g. ['jd/get-item-detail/v2'], or ['*'] for every endpoint"
    if not isinstance(perms, list) or not all(isinstance(p, str) for p in perms):
        raise InvalidInputError(f"permissions must be a list of endpoint names, {hint}")
    if len(perms) > MAX_PERMISSIONS:
        raise InvalidInputError(
            f"permissions may list at most {MAX_PERMISSIONS} endpoints (got {len(perms)})"
        )
    for entry in perms:
        if not _PERMISSION.fullmatch(entry):
            shown = entry if len(entry) <= 40 else entry[:40] + "…"
            raise InvalidInputError(
                f"permission {shown!r} is not an endpoint name (ASCII letters, digits and "
                f"'._/-', at most 100 characters), {hint}"
            )


def check_limits(fields: dict[str, Any]) -> None:
    """Refuse out-of-range token limits (``rate_limit``, ``burst``, ``daily_quota``,
    ``budget_units``, ``permissions``; absent or ``None`` = no limit)."""
    rate = fields.get("rate_limit")
    if rate is not None and not MIN_RATE_LIMIT <= rate <= MAX_RATE_LIMIT:
        raise InvalidInputError(
            f"rate limit must be between {MIN_RATE_LIMIT:g} and {MAX_RATE_LIMIT:g} "
            f"requests/second (got {rate}); omit it for none"
        )
    for key, label, most in (
        ("burst", "burst", MAX_BURST),
        ("daily_quota", "daily quota", MAX_COUNT),
    ):
        value = fields.get(key)
        if value is not None and not 1 <= value <= most:
            raise InvalidInputError(
                f"{label} must be between 1 and {most} (got {value}); omit it for none"
            )
    budget = fields.get("budget_units")
    if budget is not None and not 0 <= budget <= MAX_BUDGET_UNITS:
        raise InvalidInputError(
            f"budget must be between 0 and {MAX_BUDGET_UNITS // UNITS_PER_YUAN} yuan "
            f"(got {units_to_yuan(budget)} yuan)"
        )
    if fields.get("permissions") is not None:
        check_permissions(fields["permissions"])
