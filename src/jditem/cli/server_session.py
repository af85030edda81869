"""The client session of a command that manages things on a jditem server (``jditem
watch``, ``jditem changes``, ``jditem webhooks`` endpoints): one :class:`~jditem.Client`
for the command, and every :class:`~jditem.errors.JditemError` turned into one line on
stderr and the exit code (:func:`jditem.cli.exits.fail`)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from jditem import errors
from jditem.cli.exits import fail

if TYPE_CHECKING:
    from jditem.client import Client


class Session:
    """One client for a command; JditemError → one line and the exit code."""

    def __init__(
        self, base_url: str | None, token: str | None, insecure: bool, timeout: float
    ) -> None:
        self.options = (base_url, token, insecure, timeout)

    def __enter__(self) -> Client:
        from jditem.cli.config import resolve_base_url, resolve_token
        from jditem.client import Client

        base_url, token, insecure, timeout = self.options
        try:
            self.client = Client(
                resolve_token(token),
                base_url=resolve_base_url(base_url),
                allow_insecure_http=insecure,
                read_timeout=timeout,
            )
        except errors.JditemError as error:
            raise fail(error) from None
        return self.client

    def __exit__(self, kind: object, error: BaseException | None, tb: object) -> None:
        self.client.close()
        if isinstance(error, errors.JditemError):
            raise fail(error) from None
