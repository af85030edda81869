"""Reading typed values from submitted forms, with messages that say what to fix."""

from __future__ import annotations

from starlette.datastructures import FormData

from jditem.server.accounts.money import yuan_to_units


class FormError(ValueError):
    """A submitted field is malformed; ``str(error)`` tells the user what to fix."""


def text(form: FormData, name: str, *, max_len: int = 100) -> str:
    """A stripped text field (empty when missing)."""
    value = form.get(name)
    result = value.strip() if isinstance(value, str) else ""
    if len(result) > max_len:
        raise FormError(f"{name.replace('_', ' ')} is too long: at most {max_len} characters")
    return result


def optional_int(form: FormData, name: str, label: str) -> int | None:
    """An optional whole number; empty means "none"."""
    raw = text(form, name)
    if not raw:
        return None
    try:
        return int(raw)
    except ValueError:
        raise FormError(
            f"{label} must be a whole number, or empty for none (got {raw!r})"
        ) from None


def optional_float(form: FormData, name: str, label: str) -> float | None:
    """An optional decimal number; empty means "none"."""
    raw = text(form, name)
    if not raw:
        return None
    try:
        return float(raw)
    except ValueError:
        raise FormError(f"{label} must be a number, or empty for none (got {raw!r})") from None


def optional_money(form: FormData, name: str, label: str) -> int | None:
    """An optional amount in yuan, converted exactly to units; empty means "none"."""
    raw = text(form, name)
    if not raw:
        return None
    try:
        return yuan_to_units(raw)
    except ValueError as exc:
        raise FormError(f"{label}: {exc}") from None


def permissions(form: FormData, name: str = "permissions") -> list[str]:
    """Endpoint names, comma- or line-separated (e.g. ``jd/get-item-detail/v2``)."""
    raw = text(form, name, max_len=2000)
    values = [part.strip() for part in raw.replace("\n", ",").split(",")]
    result = [value for value in values if value]
    if not result:
        raise FormError(
            "permissions must name at least one endpoint, e.g. jd/get-item-detail/v2 (or * for all)"
        )
    return result
