"""Stopping what was started: no worker, scheduler or embedded Redis outlives its command,
however the command ends (SIGTERM from a service manager, Ctrl-C, or a SIGKILL)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import httpx
import psutil
import pytest

from tests.e2e.support import free_port, wait_until

KVALITET = [sys.executable, "-m", "workflow.entrypoints.cli"]


def _environment(data_dir: Path) -> dict[str, str]:
    """The embedded defaults: a SQLite file and the embedded Redis, both in `data_dir`."""
    env = {**os.environ, "KVALITET_DATA_DIR": str(data_dir)}
    for name in ("DATABASE_URL", "CELERY_BROKER_URL", "PUBLIC_URL"):
        env.pop(name, None)
    return env


def _tree(pid: int) -> list[psutil.Process]:
    return psutil.Process(pid).children(recursive=True)


def _names(processes: list[psutil.Process]) -> str:
    return " ".join(" ".join(p.cmdline()) for p in processes)


def _all_gone(processes: list[psutil.Process]) -> bool:
    return not [p for p in processes if p.is_running() and p.status() != psutil.STATUS_ZOMBIE]


@pytest.mark.parametrize("stop", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "Ctrl-C"])
def test_serve_leaves_no_process_behind(tmp_path: Path, stop: signal.Signals) -> None:
    port = free_port()
    serve = subprocess.Popen(
        [*KVALITET, "serve", "--port", str(port), "--concurrency", "1"],
        env=_environment(tmp_path / "data"),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:

        def all_up() -> bool:
            try:
                answered = httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1).status_code
            except httpx.HTTPError:
                return False
            names = _names(_tree(serve.pid))
            return answered == 200 and "redis-server" in names and "celery" in names

        assert wait_until(all_up, timeout=90), _names(_tree(serve.pid))
        started = _tree(serve.pid)
        serve.send_signal(stop)
        serve.wait(timeout=60)
        assert wait_until(lambda: _all_gone(started), timeout=60), _names(started)
    finally:
        if serve.poll() is None:
            serve.kill()
    assert not (tmp_path / "data" / "broker.sock").exists()  # the embedded Redis has shut down


def test_a_killed_worker_supervisor_takes_its_celery_with_it(tmp_path: Path) -> None:
    """A restart after the supervisor was killed must not find a second worker and a second
    scheduler still running from before."""
    worker = subprocess.Popen(
        [*KVALITET, "worker", "--concurrency", "1", "--loglevel", "WARNING"],
        env=_environment(tmp_path / "data"),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        assert wait_until(lambda: "celery" in _names(_tree(worker.pid)), timeout=90)
        started = _tree(worker.pid)
        worker.kill()  # SIGKILL: no handler, no finally, no atexit runs
        worker.wait(timeout=10)
        assert wait_until(lambda: _all_gone(started), timeout=60), _names(started)
    finally:
        if worker.poll() is None:
            worker.kill()


def test_cookies_are_secure_when_the_proxy_says_https(tmp_path: Path) -> None:
    """Behind a TLS-terminating proxy (`kvalitet web --proxy-headers`) the request scheme is
    the proxy's: cookies then carry Secure whatever KVALITET_ENV says; plain http does not."""
    env = _environment(tmp_path / "data")
    subprocess.run([*KVALITET, "init"], env=env, check=True, capture_output=True, timeout=120)
    port = free_port()
    web = subprocess.Popen(
        [*KVALITET, "web", "--port", str(port), "--proxy-headers", "--log-level", "warning"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    try:

        def up() -> bool:
            try:
                return httpx.get(f"{url}/healthz", timeout=1).status_code == 200
            except httpx.HTTPError:
                return False

        assert wait_until(up, timeout=60)
        behind_tls = httpx.get(f"{url}/login", headers={"X-Forwarded-Proto": "https"})
        plain = httpx.get(f"{url}/login")
    finally:
        web.terminate()
        web.wait(timeout=30)
    assert behind_tls.status_code == plain.status_code == 200
    assert "secure" in behind_tls.headers["set-cookie"].lower()
    assert "secure" not in plain.headers["set-cookie"].lower()
