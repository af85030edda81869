"""Configuration: token lookup, base URL presets and safety, timeouts, ``repr``."""

from __future__ import annotations

import pytest

from jditem import AsyncClient, Client, errors
from jditem.client.base import POOL_LIMITS
from jditem.client.config import BASE_URL_PRESETS, ClientConfig
from tests.client.conftest import TOKEN


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("JDITEM_TOKEN", "JUSTONEAPI_TOKEN", "JDITEM_BASE_URL"):
        monkeypatch.delenv(name, raising=False)


def test_token_argument_wins(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("JDITEM_TOKEN", "from-env")
    assert ClientConfig.build("arg").token.get_secret_value() == "arg"


def test_token_env_fallback_order(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("JUSTONEAPI_TOKEN", "vendor-env")
    assert ClientConfig.build().token.get_secret_value() == "vendor-env"
    monkeypatch.setenv("JDITEM_TOKEN", "ours")
    assert ClientConfig.build().token.get_secret_value() == "ours"


def test_missing_token_names_all_three_sources() -> None:
    with pytest.raises(errors.ConfigurationError) as caught:
        ClientConfig.build()
    message = str(caught.value)
    assert "token=" in message
    assert "JDITEM_TOKEN" in message
    assert "JUSTONEAPI_TOKEN" in message


def test_presets_and_default() -> None:
    assert ClientConfig.build("t").base_url == "https://api.justoneapi.com"
    cn = ClientConfig.build("t", base_url="cn", allow_insecure_http=True)
    assert cn.base_url == BASE_URL_PRESETS["cn"]
    assert cn.url == "http://47.117.133.51:30015/api/jd/get-item-detail/v2"


def test_base_url_from_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("JDITEM_BASE_URL", "http://127.0.0.1:8000/")
    assert ClientConfig.build("t").base_url == "http://127.0.0.1:8000"


@pytest.mark.parametrize("url", ["cn", "http://api.example.com", "http://10.0.0.5:8000"])
def test_plain_http_off_loopback_needs_explicit_consent(url: str) -> None:
    with pytest.raises(errors.ConfigurationError, match="clear text"):
        ClientConfig.build("t", base_url=url)
    assert ClientConfig.build("t", base_url=url, allow_insecure_http=True).base_url


@pytest.mark.parametrize("url", ["http://127.0.0.1:9", "http://localhost:8000", "http://[::1]:80"])
def test_plain_http_on_loopback_is_fine(url: str) -> None:
    assert ClientConfig.build("t", base_url=url).base_url == url


@pytest.mark.parametrize(
    "url", ["ftp://x.example", "not a url", "https://user:pw@x.example", "https://x.example/?a=1"]
)
def test_bad_base_urls(url: str) -> None:
    with pytest.raises(errors.ConfigurationError):
        ClientConfig.build("t", base_url=url)


@pytest.mark.parametrize("field", ["connect_timeout", "read_timeout", "deadline"])
def test_none_timeouts_are_refused(field: str) -> None:
    with pytest.raises(errors.ConfigurationError, match="None is refused"):
        ClientConfig.build("t", **{field: None})


def test_defaults() -> None:
    config = ClientConfig.build("t")
    assert (config.connect_timeout, config.read_timeout) == (10.0, 120.0)
    assert (config.deadline, config.max_calls_per_item) == (900.0, 6)
    assert (config.endpoint, config.auth) == ("v2", "query")


@pytest.mark.parametrize(
    ("options", "fragment"),
    [
        ({"endpoint": "v9"}, "endpoint"),
        ({"auth": "cookie"}, "auth"),
        ({"max_calls_per_item": 0}, "max_calls_per_item"),
        ({"read_timeout": -1}, "> 0"),
    ],
)
def test_invalid_options(options: dict[str, object], fragment: str) -> None:
    with pytest.raises(errors.ConfigurationError, match=fragment):
        ClientConfig.build("t", **options)  # type: ignore[arg-type]


def test_endpoints_v1_v3_paths() -> None:
    assert ClientConfig.build("t", endpoint="v1").url.endswith("/api/jd/get-item-detail/v1")
    assert ClientConfig.build("t", endpoint="v3").url.endswith("/api/jd/get-item-detail/v3")


async def test_repr_masks_the_token() -> None:
    sync_client = Client(TOKEN)
    async_client = AsyncClient(TOKEN)
    try:
        for text in (repr(sync_client), repr(async_client), repr(sync_client.config)):
            assert TOKEN not in text
        assert "***" in repr(sync_client)
    finally:
        sync_client.close()
        await async_client.close()


def test_with_options_validates_and_shares_the_pool() -> None:
    with Client(TOKEN) as client:
        other = client.with_options(endpoint="v1", deadline=5)
        assert other.config.endpoint == "v1"
        assert other.config.deadline == 5
        assert other.config.token.get_secret_value() == TOKEN
        assert client.config.endpoint == "v2"
        assert other._http is client._http
        with pytest.raises(errors.ConfigurationError, match="unknown option"):
            client.with_options(nope=1)
        with pytest.raises(errors.ConfigurationError, match="clear text"):
            client.with_options(base_url="http://api.example.com")
        other.close()  # does not close the shared pool
        assert not client._http.is_closed


@pytest.mark.parametrize("cls", [Client, AsyncClient])
def test_a_wrong_keyword_is_a_configuration_error_naming_the_valid_ones(cls: type) -> None:
    with pytest.raises(errors.ConfigurationError) as caught:
        cls("tok_abc", max_calls=3)
    message = str(caught.value)
    assert "'max_calls' (did you mean 'max_calls_per_item'?)" in message
    assert "valid options are" in message
    assert "http_client" in message


async def test_both_twins_drop_idle_connections_after_five_seconds() -> None:
    """Set explicitly, not left to httpx's default: the server's keep-alive (20 s) is
    paired with it (``tests/server/test_http_guard.py``), so the server is never the
    one closing a connection the client reuses."""
    assert POOL_LIMITS.keepalive_expiry == 5.0
    with Client(TOKEN) as client:
        assert client._http._transport._pool._keepalive_expiry == 5.0  # type: ignore[attr-defined]
    async with AsyncClient(TOKEN) as aclient:
        assert aclient._http._transport._pool._keepalive_expiry == 5.0  # type: ignore[attr-defined]
