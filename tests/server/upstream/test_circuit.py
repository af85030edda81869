"""Circuit: opens on a refusal, probes every probe_seconds, closes on any other answer."""

from __future__ import annotations

from jditem.server.upstream.circuit import OPENING_CODES, Circuit, CircuitChange, refusal_message


def test_open_probe_close_cycle() -> None:
    now = [0.0]
    changes: list[CircuitChange] = []
    circuit = Circuit(5.0, clock=lambda: now[0], on_change=changes.append)
    assert circuit.refusal() is None
    assert circuit.may_call()
    circuit.trip(601)
    assert circuit.state == "open"
    assert not circuit.may_call()
    message = circuit.refusal()
    assert message is not None
    assert "upstream code 601" in message
    assert "retry in 5 s" in message
    now[0] = 5.0  # probe due: exactly one caller goes through
    assert circuit.refusal() is None
    assert circuit.state == "half_open"
    assert circuit.may_call()
    assert circuit.refusal() is not None  # the next one waits for the probe
    circuit.trip(601)  # the probe was refused too
    assert circuit.state == "open"
    now[0] = 10.0
    assert circuit.refusal() is None
    circuit.succeeded()
    assert circuit.state == "closed"
    assert circuit.refusal() is None
    assert [c.state for c in changes] == ["open", "half_open", "open", "half_open", "closed"]


def test_refusal_messages_name_the_code_only() -> None:
    for code in OPENING_CODES:
        assert f"upstream code {code}" in refusal_message(code)
