"""``make demo``: the main job on the embedded default, end to end.

1. start the embedded server (``python -m jditem.cli serve``) on a free loopback port
   with a temporary home and database, the sandbox collector at a realistic latency
   (300-1500 ms) and a short server wait (1 s), so items go pending → ready;
2. create an account and a rate-limited token with ``jditem admin``;
3. run ``jditem batch`` over the 22 sample SKUs plus 300 synthetic ids with a progress
   bar (JSON lines when not on a terminal), writing ``demo-output/products.jsonl``;
4. re-export the job's journal to ``demo-output/products.csv`` (no HTTP call);
5. print a summary (the batch's own, plus the server's ledger) and stop the server.

The token only travels through environment variables; it is never printed.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "demo-output"
SYNTHETIC = 300
TOKEN_RATE = 20  # calls/second the server admits for the demo token
START_TIMEOUT = 60.0


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def cli(*args: str, env: dict[str, str], capture: bool = True) -> subprocess.CompletedProcess[str]:
    return subprocess.run(  # noqa: S603 - our own CLI, fixed arguments
        [sys.executable, "-m", "jditem.cli", *args],
        env=env,
        text=True,
        capture_output=capture,
        check=False,
        timeout=900,
    )


def wait_healthy(base_url: str, server: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise SystemExit(f"the server exited early (code {server.returncode}); see above")
        try:
            if httpx.get(base_url + "/api/health", timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.3)
    raise SystemExit(f"the server did not answer {base_url}/api/health in {START_TIMEOUT:.0f} s")


def stop(server: subprocess.Popen[bytes]) -> None:
    """Stop the demo's server: terminate, then kill if it does not exit in 15 s."""
    print("▶ stopping the server")
    server.terminate()
    try:
        server.wait(timeout=15)
    except subprocess.TimeoutExpired:
        server.kill()
        server.wait(timeout=5)


def sample_ids() -> list[str]:
    from jditem.server.collectors.catalog import catalog_skus

    skus = list(catalog_skus())
    return skus + [str(100_200_300_000 + i) for i in range(SYNTHETIC)]


def main() -> int:
    work = Path(tempfile.mkdtemp(prefix="jditem-demo-"))
    OUT.mkdir(exist_ok=True)
    for previous in (OUT / "products.jsonl", OUT / "products.csv"):
        previous.unlink(missing_ok=True)  # every demo is a new job that writes them anew
    port = free_port()
    base_url = f"http://127.0.0.1:{port}"
    server_env = {
        **os.environ,
        "JDITEM_HOME": str(work / "server"),
        "JDITEM_SANDBOX_LATENCY_MS": "[300, 1500]",
        "JDITEM_WAIT_SECONDS": "1",
        "JDITEM_RETRY_AFTER_SECONDS": "1",
        "JDITEM_RESULT_TTL_SECONDS": "3600",
    }
    client_env = {
        **os.environ,
        "JDITEM_HOME": str(work / "client"),
        "JDITEM_BASE_URL": base_url,
    }
    print(f"▶ starting the embedded server on {base_url} (temporary database in {work})")
    server = subprocess.Popen(  # noqa: S603 - our own CLI, fixed arguments
        [sys.executable, "-m", "jditem.cli", "serve", "--port", str(port), "--workers", "16"],
        env=server_env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        wait_healthy(base_url, server)
        made = cli("admin", "account", "create", "batch-demo", "--balance", "100", env=server_env)
        if made.returncode != 0:
            raise SystemExit(f"admin account create failed: {made.stderr.strip()}")
        created = cli(
            "admin", "token", "create", "--account", "batch-demo", "--name", "demo",
            "--rate", str(TOKEN_RATE), "--burst", "5",
            env=server_env,
        )  # fmt: skip
        if created.returncode != 0 or not created.stdout.strip():
            raise SystemExit(f"admin token create failed: {created.stderr.strip()}")
        client_env["JDITEM_TOKEN"] = created.stdout.strip().splitlines()[-1].strip()
        print(
            f"▶ created account 'batch-demo' (100 CNY) and a token limited to {TOKEN_RATE} calls/s"
        )

        ids = sample_ids()
        source = work / "ids.txt"
        source.write_text(
            "# the 22 sample SKUs, then synthetic ids\n" + "\n".join(ids) + "\n", encoding="utf-8"
        )
        progress = "bar" if sys.stdout.isatty() else "json"
        print(f"▶ jditem batch over {len(ids)} items (sandbox latency 300-1500 ms)")
        batch = cli(
            "batch", str(source), "-o", str(OUT / "products.jsonl"), "--job", "demo",
            "--concurrency", "16", "--rate", str(3 * TOKEN_RATE), "--progress", progress,
            env=client_env, capture=False,
        )  # fmt: skip
        if batch.returncode not in (0, 1):  # 1: some items not done (see the summary)
            print(f"▶ jditem batch failed (exit {batch.returncode}); see its message above")
            return batch.returncode
        exported = cli("export", "demo", "-o", str(OUT / "products.csv"), env=client_env)
        print(exported.stdout.strip() or exported.stderr.strip())

        health = httpx.get(base_url + "/api/health/jd/get-item-detail/v2", timeout=5).json()
        accounts = cli("admin", "account", "list", env=server_env)
        print("▶ server side (balance after the charges, endpoint health)")
        print("  " + "\n  ".join(accounts.stdout.strip().splitlines()))
        print(f"  health: {json.dumps(health, ensure_ascii=False)}")
        print(f"▶ outputs: {OUT / 'products.jsonl'} and {OUT / 'products.csv'}")
        return batch.returncode
    finally:
        stop(server)
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
