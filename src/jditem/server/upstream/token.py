"""Where the relay's upstream token comes from: the environment or a file, nothing else.

``JDITEM_UPSTREAM_TOKEN`` (``Settings.upstream_token``) or ``--upstream-token-file``
(``Settings.upstream_token_file``, first non-empty line). Never the database, a flag
value or a URL: flags and URLs end up in shell histories, process lists and logs.
"""

from __future__ import annotations

from pydantic import SecretStr

from jditem.server.settings import Settings


class UpstreamConfigError(ValueError):
    """The relay cannot start: what is wrong and what to do (one line)."""


def upstream_token(settings: Settings) -> SecretStr:
    """The upstream token; :class:`UpstreamConfigError` when missing or unreadable."""
    if settings.upstream_token_file is not None:
        path = settings.upstream_token_file.expanduser()
        try:
            lines = path.read_text(encoding="utf-8").splitlines()
        except OSError as exc:
            raise UpstreamConfigError(
                f"cannot read the upstream token file {path} ({exc.strerror or exc}); "
                "check --upstream-token-file / JDITEM_UPSTREAM_TOKEN_FILE"
            ) from None
        token = next((line.strip() for line in lines if line.strip()), "")
        if not token:
            raise UpstreamConfigError(
                f"the upstream token file {path} is empty; put the upstream token on its first line"
            )
        return SecretStr(token)
    if settings.upstream_token is not None and settings.upstream_token.get_secret_value().strip():
        return SecretStr(settings.upstream_token.get_secret_value().strip())
    raise UpstreamConfigError(
        "the relay collector needs an upstream token: set JDITEM_UPSTREAM_TOKEN or pass "
        "--upstream-token-file PATH (never a flag value or the database)"
    )
