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
    refusal = circuit.refusal()
    assert refusal is not None
    assert "upstream code 601" in refusal.message
    assert "retry in 5 s" in refusal.message
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


def test_the_state_shown_says_probe_due_once_the_probe_time_has_come() -> None:
    """SPEC §5: *open*, or *probe due* once upstream_probe_seconds have passed."""
    now = [100.0]
    circuit = Circuit(30.0, clock=lambda: now[0])
    assert circuit.shown_state == "closed"
    circuit.trip(303)
    assert circuit.shown_state == "open"
    assert circuit.retry_after == 30
    now[0] = 129.4
    assert circuit.shown_state == "open"
    assert circuit.current_refusal().data() == {
        "retryAfter": 1,
        "circuit": "open",
        "upstreamCode": 303,
    }
    now[0] = 130.0
    assert circuit.shown_state == "probe_due"
    assert circuit.current_refusal().data() == {
        "retryAfter": 1,
        "circuit": "probe_due",
        "upstreamCode": 303,
    }
    assert circuit.refusal() is None  # this caller is the probe
    assert circuit.shown_state == "half_open"


def test_the_503_data_is_exactly_the_wire_shape() -> None:
    now = [0.0]
    circuit = Circuit(12.0, clock=lambda: now[0])
    circuit.trip(601)
    refusal = circuit.refusal()
    assert refusal is not None
    assert refusal.data() == {"retryAfter": 12, "circuit": "open", "upstreamCode": 601}
    assert refusal.retry_after == 12


def test_a_circuit_opened_without_a_code_gives_no_retry_hint() -> None:
    """Every endpoint answered an instruction message: waiting cannot help the caller."""
    changes: list[CircuitChange] = []
    circuit = Circuit(30.0, clock=lambda: 0.0, on_change=changes.append)
    circuit.trip(None, "upstream unavailable: no data", detail="set X", retry_hint=False)
    refusal = circuit.refusal()
    assert refusal is not None
    assert refusal.message == "upstream unavailable: no data"
    assert "retry" not in refusal.message
    assert refusal.data() == {"retryAfter": 30, "circuit": "open", "upstreamCode": None}
    assert changes == [CircuitChange("open", None, "upstream unavailable: no data", "set X")]


def test_a_worker_without_callers_probes_once_the_probe_is_due() -> None:
    """Scale-out: a worker process never sees callers (``refusal``); its own next call
    is the probe once it is due, instead of the circuit staying open until a restart."""
    now = [0.0]
    circuit = Circuit(10.0, clock=lambda: now[0])
    circuit.trip(601)
    assert not circuit.may_call()
    now[0] = 10.0
    assert circuit.may_call()  # this call is the probe
    assert circuit.state == "half_open"
    assert circuit.may_call()  # calls already queued may go while the probe runs
    circuit.succeeded()
    assert circuit.state == "closed"


def test_another_process_adopts_the_state_without_recording_it_again() -> None:
    now = [50.0]
    worker_changes: list[CircuitChange] = []
    api_changes: list[CircuitChange] = []
    worker = Circuit(30.0, clock=lambda: now[0], on_change=worker_changes.append)
    api = Circuit(30.0, clock=lambda: now[0], on_change=api_changes.append)
    worker.also_notify(lambda _change: api.adopt(worker.snapshot()))
    worker.trip(303)
    assert api.state == "open"
    refusal = api.refusal()  # a caller at the API process: 503 at once
    assert refusal is not None
    assert refusal.data() == {"retryAfter": 30, "circuit": "open", "upstreamCode": 303}
    assert api_changes == []  # adopted, not recorded twice
    worker.succeeded()
    assert api.state == "closed"
    assert api.refusal() is None
