"""Pure helpers of the console: money display, code groups, charts, sessions."""

from __future__ import annotations

from jditem.protocol.monitoring import PausedReason, WatchListStatus
from jditem.server.console import charts, formatting
from jditem.server.console.pages.watch import PAUSE_WORDS, pause_words
from jditem.server.console.session_cookie import SessionKeeper


def test_money_is_exact() -> None:
    assert formatting.money(0) == "¥0.0000"
    assert formatting.money(12_345) == "¥1.2345"
    assert formatting.money(-100) == "¥-0.0100"
    assert formatting.money(123_456_789_012) == "¥12,345,678.9012"
    assert formatting.money(None) == "—"
    assert formatting.yuan(15_000) == "1.5000"


def test_code_groups_and_labels() -> None:
    assert formatting.code_group(0) == "success"
    assert formatting.code_group(102) == "pending"
    assert formatting.code_group(301) == formatting.code_group(500) == "failed"
    assert formatting.code_group(602) == "rejected"
    assert formatting.code_label(0) == "0 success"
    assert formatting.code_label(999) == "999"


def test_stacked_bars_escape_names_and_scale() -> None:
    svg = charts.stacked_bars(
        ["a", "b"],
        [
            charts.Series("<x>", [3, 0], css_class="g-success"),
            charts.Series("y", [1, 7], color="#000"),
        ],
        title="t",
    )
    assert svg.startswith("<svg")
    assert "&lt;x&gt;" in svg
    assert "<x>" not in svg
    assert svg.count("<rect") == 3  # zero values draw nothing
    assert "No data yet" in charts.stacked_bars([], [], title="empty")


def test_sessions_are_signed_and_bound_to_the_key() -> None:
    keeper = SessionKeeper("key-1")
    session, cookie = keeper.new_session()
    loaded = keeper.load(cookie)
    assert loaded is not None
    assert (loaded.sid, loaded.csrf) == (session.sid, session.csrf)
    assert SessionKeeper("key-2").load(cookie) is None
    assert keeper.load(cookie[:-2] + "xx") is None
    assert keeper.load(None) is None
    assert "key-1" not in repr(keeper)


def test_login_tokens_must_match_their_cookie() -> None:
    keeper = SessionKeeper("key")
    form_value, cookie = keeper.new_login_token()
    assert keeper.check_login_token(form_value, cookie)
    assert not keeper.check_login_token("other", cookie)
    assert not keeper.check_login_token(form_value, None)
    assert keeper.check_admin_key("key")
    assert not keeper.check_admin_key("kex")


def test_intervals_read_like_a_schedule() -> None:
    assert formatting.interval(3600) == "every 1 h"
    assert formatting.interval(5400) == "every 1 h 30 min"
    assert formatting.interval(2 * 86_400 + 45) == "every 2 d 45 s"
    assert formatting.interval(0) == "every 0 s"


def test_every_pause_reason_has_words() -> None:
    assert set(PAUSE_WORDS) == set(PausedReason)
    assert pause_words(WatchListStatus(paused=False)) == ""
    assert "tomorrow" in pause_words(
        WatchListStatus(paused=True, paused_reason=PausedReason.LIST_BUDGET)
    )
    assert "not recorded" in pause_words(WatchListStatus(paused=True))
