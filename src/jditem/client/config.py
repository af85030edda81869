"""Client configuration: token lookup, base URL presets, endpoint, timeouts, budgets."""

from __future__ import annotations

import dataclasses
import difflib
import ipaddress
import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal, TypedDict
from urllib.parse import urlsplit

from pydantic import SecretStr

from jditem.errors import ConfigurationError

#: Base URL presets (SPEC §1): the vendor's global HTTPS address and its mainland one.
BASE_URL_PRESETS: dict[str, str] = {
    "global": "https://api.justoneapi.com",
    "cn": "http://47.117.133.51:30015",
}
#: Environment variables searched for the token, in order.
TOKEN_ENV_VARS = ("JDITEM_TOKEN", "JUSTONEAPI_TOKEN")
#: Environment variable for the base URL (a preset name or a URL).
BASE_URL_ENV_VAR = "JDITEM_BASE_URL"

Endpoint = Literal["v1", "v2", "v3"]
AuthMode = Literal["query", "header"]
ENDPOINTS: tuple[str, ...] = ("v1", "v2", "v3")


class ClientOptions(TypedDict, total=False):
    """Keyword options of ``Client`` / ``AsyncClient`` / ``with_options`` (see ClientConfig)."""

    base_url: str | None
    endpoint: str
    endpoints: Iterable[str] | str | None
    auth: str
    allow_insecure_http: bool
    connect_timeout: float | None
    read_timeout: float | None
    deadline: float | None
    max_calls_per_item: int
    max_retry_after: float
    backoff_base: float
    backoff_max: float
    pending_codes: Iterable[int]
    user_agent: str | None


def check_option_names(names: Iterable[str], *, extra: Iterable[str] = ()) -> None:
    """Raise :class:`ConfigurationError` naming the valid options if a name is unknown.

    ``extra`` are further valid names of the caller (``token``, ``http_client``).
    """
    valid = set(ClientOptions.__annotations__) | set(extra)
    unknown = sorted(set(names) - valid)
    if not unknown:
        return
    hints = []
    for name in unknown:
        close = difflib.get_close_matches(name, sorted(valid), n=1, cutoff=0.5)
        close = close or [v for v in sorted(valid) if v.startswith(name) or name in v][:1]
        hints.append(f"{name!r} (did you mean {close[0]!r}?)" if close else repr(name))
    raise ConfigurationError(
        f"unknown option(s) {', '.join(hints)}: valid options are {', '.join(sorted(valid))}"
    )


def parse_endpoints(value: str | Iterable[str]) -> tuple[str, ...]:
    """``"v2,v1"`` or ``("v2", "v1")`` → a validated tuple (each endpoint once, in order)."""
    parts = value.split(",") if isinstance(value, str) else list(value)
    endpoints = tuple(str(part).strip() for part in parts if part and str(part).strip())
    unknown = [e for e in endpoints if e not in ENDPOINTS]
    if not endpoints or unknown or len(set(endpoints)) != len(endpoints):
        raise ConfigurationError(
            f"endpoints must list v1, v2, v3 at most once each, in fallback order "
            f"(got {value!r}): use e.g. v2,v1"
        )
    return endpoints


def endpoint_path(endpoint: str) -> str:
    """The URL path of the JD item-detail endpoint version ``endpoint``."""
    return f"/api/jd/get-item-detail/{endpoint}"


def _is_loopback(host: str) -> bool:
    if host.lower() in {"localhost", "localhost.localdomain"}:
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def resolve_base_url(value: str | None, *, allow_insecure_http: bool) -> str:
    """A preset name or URL → a normalized base URL; refuses clear-text HTTP off loopback."""
    raw = value or os.environ.get(BASE_URL_ENV_VAR) or "global"
    url = BASE_URL_PRESETS.get(raw.strip().lower(), raw.strip())
    parts = urlsplit(url)
    if parts.scheme not in {"http", "https"} or not parts.hostname:
        presets = ", ".join(BASE_URL_PRESETS)
        raise ConfigurationError(
            f"base URL {url!r} is not an http(s) URL: pass a preset ({presets}) "
            "or a URL like https://api.example.com"
        )
    if parts.username or parts.password or parts.query or parts.fragment:
        raise ConfigurationError(
            "base URL must not contain credentials, a query or a fragment: "
            "pass the token with token=... (or JDITEM_TOKEN) and only scheme://host[:port][/path]"
        )
    if parts.scheme == "http" and not _is_loopback(parts.hostname) and not allow_insecure_http:
        problem = (
            f"base URL {url} uses plain http:// to a non-loopback host, so the token would "
            "travel in clear text"
        )
        raise ConfigurationError(
            f"{problem}: use https://, or pass allow_insecure_http=True if you accept that",
            problem=problem,
            option="allow_insecure_http",
        )
    return url.rstrip("/")


def resolve_token(token: str | None) -> SecretStr:
    """The token argument, else ``JDITEM_TOKEN``, else ``JUSTONEAPI_TOKEN``."""
    if token is None:
        for name in TOKEN_ENV_VARS:
            value = os.environ.get(name, "").strip()
            if value:
                token = value
                break
    if not token or not token.strip():
        raise ConfigurationError(
            f"no API token: pass token=..., or set {' or '.join(TOKEN_ENV_VARS)} in the "
            "environment",
            problem="no API token",
            option="token",
        )
    token = token.strip()
    if any(ch.isspace() for ch in token) or not token.isprintable():
        raise ConfigurationError(
            "the API token contains whitespace or control characters: "
            "copy it again without surrounding text"
        )
    return SecretStr(token)


def _positive(name: str, value: float | None, *, hint: str) -> float:
    if value is None:
        raise ConfigurationError(f"{name}=None is refused: a call must not wait forever; {hint}")
    if not value > 0:
        raise ConfigurationError(f"{name} must be > 0 seconds, got {value!r}; {hint}")
    return float(value)


@dataclass(frozen=True)
class ClientConfig:
    """Everything a client needs; build with :meth:`build` (validates and resolves).

    The token is a :class:`pydantic.SecretStr`, so ``repr`` never shows it.
    """

    token: SecretStr = field(repr=False)
    base_url: str = BASE_URL_PRESETS["global"]
    endpoint: Endpoint = "v2"
    #: Endpoint fallback order (opt-in; empty = ``endpoint`` only). An instruction message
    #: (code 0 without product data) moves on to the next one.
    endpoints: tuple[str, ...] = ()
    auth: AuthMode = "query"
    allow_insecure_http: bool = False
    connect_timeout: float = 10.0
    read_timeout: float = 120.0
    deadline: float = 900.0
    max_calls_per_item: int = 6
    max_retry_after: float = 120.0
    backoff_base: float = 0.5
    backoff_max: float = 30.0
    pending_codes: frozenset[int] = frozenset()
    user_agent: str = "jditem"

    @classmethod
    def build(
        cls,
        token: str | SecretStr | None = None,
        *,
        base_url: str | None = None,
        endpoint: str = "v2",
        endpoints: Iterable[str] | str | None = None,
        auth: str = "query",
        allow_insecure_http: bool = False,
        connect_timeout: float | None = 10.0,
        read_timeout: float | None = 120.0,
        deadline: float | None = 900.0,
        max_calls_per_item: int = 6,
        max_retry_after: float = 120.0,
        backoff_base: float = 0.5,
        backoff_max: float = 30.0,
        pending_codes: Iterable[int] = (),
        user_agent: str | None = None,
    ) -> ClientConfig:
        """Validate the arguments and resolve the token and base URL from the environment.

        ``endpoints`` (e.g. ``("v2", "v1")``) turns on the endpoint fallback; its first
        entry replaces ``endpoint``. Opt-in: each endpoint may be priced differently.
        """
        from jditem._version import __version__

        secret = token if isinstance(token, SecretStr) else resolve_token(token)
        fallback = parse_endpoints(endpoints) if endpoints else ()
        if fallback:
            endpoint = fallback[0]
        if endpoint not in ENDPOINTS:
            raise ConfigurationError(
                f"endpoint {endpoint!r} is unknown: use v2 (task-backed) or v1/v3 (synchronous)"
            )
        if auth not in ("query", "header"):
            raise ConfigurationError(
                f"auth {auth!r} is unknown: use 'query' (?token=, the vendor's form) or "
                "'header' (Authorization: Bearer)"
            )
        if max_calls_per_item < 1:
            raise ConfigurationError(
                f"max_calls_per_item must be >= 1, got {max_calls_per_item}: use e.g. 6"
            )
        return cls(
            token=secret,
            base_url=resolve_base_url(base_url, allow_insecure_http=allow_insecure_http),
            endpoint=endpoint,  # type: ignore[arg-type]
            endpoints=fallback if len(fallback) > 1 else (),
            auth=auth,  # type: ignore[arg-type]
            allow_insecure_http=allow_insecure_http,
            connect_timeout=_positive(
                "connect_timeout", connect_timeout, hint="use e.g. 10 (the default)"
            ),
            read_timeout=_positive(
                "read_timeout", read_timeout, hint="use >= 60, 120 is the vendor's advice"
            ),
            deadline=_positive("deadline", deadline, hint="use e.g. 900 (15 min, the default)"),
            max_calls_per_item=max_calls_per_item,
            max_retry_after=_positive("max_retry_after", max_retry_after, hint="use e.g. 120"),
            backoff_base=_positive("backoff_base", backoff_base, hint="use e.g. 0.5"),
            backoff_max=_positive("backoff_max", backoff_max, hint="use e.g. 30"),
            pending_codes=frozenset(int(code) for code in pending_codes),
            user_agent=user_agent or f"jditem/{__version__}",
        )

    def replace(self, **changes: Any) -> ClientConfig:
        """A validated copy with ``changes`` applied (used by ``with_options``)."""
        current: dict[str, Any] = {
            f.name: getattr(self, f.name) for f in dataclasses.fields(self) if f.init
        }
        check_option_names(changes)
        current.update(changes)
        if "base_url" not in changes and "allow_insecure_http" in changes:
            current["base_url"] = self.base_url
        return ClientConfig.build(**current)

    @property
    def url(self) -> str:
        """The full endpoint URL (no token in it)."""
        return self.base_url + endpoint_path(self.endpoint)

    def describe(self) -> Mapping[str, Any]:
        """Token-free summary for ``repr`` and diagnostics."""
        summary: dict[str, Any] = {
            "base_url": self.base_url,
            "endpoint": self.endpoint,
            "auth": self.auth,
        }
        if self.endpoints:
            summary["endpoints"] = self.endpoints
        return summary
