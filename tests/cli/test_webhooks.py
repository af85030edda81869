"""``jditem webhooks listen`` as a real process receiving signed POSTs on loopback."""

from __future__ import annotations

import json
import re
import signal
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest
from standardwebhooks import Webhook
from tests.support.cli_runs import JDITEM, process_env
from tests.support.waiting import wait_until

from jditem.server.monitor.signing import new_secret, signature_headers

EVENT = {"id": "evt_1", "type": "price_drop", "item": "100012043978", "price": "¥5,499"}
BODY = json.dumps(EVENT, ensure_ascii=False).encode()


@dataclass
class Listener:
    popen: subprocess.Popen[bytes]
    out: Path
    err: Path
    url: str = ""

    def stdout(self) -> str:
        return self.out.read_text(encoding="utf-8")

    def stderr(self) -> str:
        return self.err.read_text(encoding="utf-8")


@contextmanager
def listening(tmp_path: Path, *args: str) -> Iterator[Listener]:
    out, err = tmp_path / "out.txt", tmp_path / "err.txt"
    with out.open("wb") as stdout, err.open("wb") as stderr:
        popen = subprocess.Popen(
            [JDITEM, "webhooks", "listen", "--port", "0", *args],
            stdout=stdout,
            stderr=stderr,
            stdin=subprocess.DEVNULL,
            env=process_env(tmp_path),
        )
    listener = Listener(popen, out, err)
    try:
        ready = wait_until(
            lambda: (
                re.search(r"listening on (http://127\.0\.0\.1:\d+/)", listener.stderr())
                or popen.poll() is not None
            ),
            what="the listener to start",
        )
        assert not isinstance(ready, bool), listener.stderr()
        listener.url = ready.group(1)
        yield listener
    finally:
        if popen.poll() is None:
            popen.send_signal(signal.SIGINT)
        try:
            popen.wait(timeout=30)
        except subprocess.TimeoutExpired:
            popen.kill()
            popen.wait(timeout=30)


def test_listen_verifies_prints_and_answers(tmp_path: Path) -> None:
    old, new = new_secret(), new_secret()
    with listening(
        tmp_path, "--secret", old.get_secret_value(), "--secret", new.get_secret_value()
    ) as listener:
        now = datetime.now(UTC)
        ours = signature_headers("msg_1", BODY, [new, old], timestamp=now)  # mid-rotation
        reference = {
            "webhook-id": "msg_2",
            "webhook-timestamp": str(int(now.timestamp())),
            "webhook-signature": Webhook(old.get_secret_value()).sign("msg_2", now, BODY),
        }
        with httpx.Client(timeout=30) as http:
            assert http.post(listener.url + "hooks", content=BODY, headers=ours).status_code == 200
            assert http.post(listener.url, content=BODY, headers=reference).status_code == 200
            again = http.post(listener.url, content=BODY, headers=ours)  # a retry
            assert again.status_code == 200
            tampered = http.post(listener.url, content=BODY.replace(b"5,499", b"1"), headers=ours)
            unsigned = http.post(listener.url, content=BODY)
            assert http.get(listener.url).status_code == 405
        assert tampered.status_code == 400
        assert tampered.text.startswith("no_matching_signature: ")
        assert unsigned.status_code == 400
        assert "missing webhook header(s)" in unsigned.text
        wait_until(lambda: listener.stdout().count("webhook msg_") == 3, what="3 events printed")
        printed = listener.stdout()
        assert "webhook msg_1 price_drop\n" in printed
        assert "webhook msg_2 price_drop\n" in printed
        assert "webhook msg_1 price_drop (again: a retry" in printed
        assert '"price": "¥5,499"' in printed
        wait_until(lambda: listener.stderr().count("rejected POST") == 2, what="2 rejections")
        assert "rejected POST /: no signature of webhook 'msg_1' matches" in listener.stderr()
        listener.popen.send_signal(signal.SIGINT)
        assert listener.popen.wait(timeout=30) == 0
    assert "stopped" in listener.stderr()
    assert old.get_secret_value() not in listener.stderr() + listener.stdout()


def test_listen_json_prints_one_event_per_line(tmp_path: Path) -> None:
    secret = new_secret()
    with listening(tmp_path, "--json", "--secret", secret.get_secret_value()) as listener:
        with httpx.Client(timeout=30) as http:
            for n in range(3):
                headers = signature_headers(f"m{n}", BODY, [secret], timestamp=datetime.now(UTC))
                assert http.post(listener.url, content=BODY, headers=headers).status_code == 200
        wait_until(lambda: listener.stdout().count("\n") == 3, what="3 lines")
    assert [json.loads(line) for line in listener.stdout().splitlines()] == [EVENT] * 3


def test_an_old_message_is_refused_by_the_tolerance(tmp_path: Path) -> None:
    secret = new_secret()
    with listening(
        tmp_path, "--tolerance", "60", "--secret", secret.get_secret_value()
    ) as listener:
        old = datetime.fromtimestamp(datetime.now(UTC).timestamp() - 3600, UTC)
        headers = signature_headers("m", BODY, [secret], timestamp=old)
        answer = httpx.post(listener.url, content=BODY, headers=headers, timeout=30)
    assert answer.status_code == 400
    assert answer.text.startswith("timestamp_too_old: ")


@pytest.mark.parametrize(
    ("args", "code", "message"),
    [
        ([], 2, "give the endpoint's signing secret: --secret whsec_"),
        (["--secret", "whsec_!!notbase64"], 2, "whsec_ followed by base64"),
    ],
)
def test_listen_needs_a_good_secret(
    tmp_path: Path, args: list[str], code: int, message: str
) -> None:
    done = subprocess.run(
        [JDITEM, "webhooks", "listen", "--port", "0", *args],
        capture_output=True,
        text=True,
        env=process_env(tmp_path),
        timeout=60,
        check=False,
    )
    assert done.returncode == code
    assert message in done.stderr
    assert "Traceback" not in done.stderr
    assert "!!notbase64" not in done.stderr


def test_a_busy_port_is_a_clear_error(tmp_path: Path) -> None:
    secret = new_secret().get_secret_value()
    with listening(tmp_path, "--secret", secret) as first:
        port = first.url.rsplit(":", 1)[1].strip("/")
        done = subprocess.run(
            [JDITEM, "webhooks", "listen", "--port", port, "--secret", secret],
            capture_output=True,
            text=True,
            env=process_env(tmp_path),
            timeout=60,
            check=False,
        )
    assert done.returncode == 1
    assert f"cannot listen on 127.0.0.1:{port}" in done.stderr
    assert "choose another --port" in done.stderr
