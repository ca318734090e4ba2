"""The web server: TCP_NODELAY on every connection, and several workers sharing one listening
socket, a busy one leaving new connections to an idle one."""

from __future__ import annotations

import asyncio
import socket
import threading
from collections import Counter
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager

import pytest
from starlette.types import Receive, Scope, Send

from workflow.entrypoints.http.webserver import (
    BalancingLoop,
    RequestsInFlight,
    count_requests,
    server_config,
)


def nodelay_of_accepted(
    listener: socket.socket, loop_factory: Callable[[], asyncio.AbstractEventLoop] | None = None
) -> int:
    """Serve `listener` as uvicorn's workers do (asyncio, `sock=`), connect once, and read
    TCP_NODELAY on the connection the server accepted."""
    seen: list[int] = []

    class Probe(asyncio.Protocol):
        def connection_made(self, transport: asyncio.BaseTransport) -> None:
            accepted = transport.get_extra_info("socket")
            seen.append(accepted.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY))
            transport.close()

    async def main() -> None:
        server = await asyncio.get_running_loop().create_server(Probe, sock=listener)
        port = listener.getsockname()[1]
        _, writer = await asyncio.open_connection("127.0.0.1", port)
        for _ in range(100):
            if seen:
                break
            await asyncio.sleep(0.01)
        writer.close()
        server.close()
        await server.wait_closed()

    # Its own thread: a session-wide Playwright keeps an event loop running on the main one.
    def run() -> None:
        with asyncio.Runner(loop_factory=loop_factory) as runner:
            runner.run(main())

    with ThreadPoolExecutor(max_workers=1) as pool:
        pool.submit(run).result()
    return seen[0]


def shared_listener() -> socket.socket:
    """The socket `kvalitet web --workers N` binds for its workers to share."""
    config = server_config(host="127.0.0.1", port=0, workers=2, proxy_headers=False)
    return config.bind_socket()


def test_the_socket_workers_share_turns_nagle_off_for_every_connection() -> None:
    listener = shared_listener()
    assert listener.proto == socket.IPPROTO_TCP
    assert nodelay_of_accepted(listener) == 1
    listener.close()


def test_the_balancing_workers_turn_nagle_off_for_every_connection_too() -> None:
    listener = shared_listener()
    assert nodelay_of_accepted(listener, BalancingLoop) == 1
    listener.close()


# --- several workers on one socket -------------------------------------------------------------


@contextmanager
def workers_sharing(listener: socket.socket, delays: dict[str, float]) -> Iterator[Counter[str]]:
    """One event loop per name, each in its own thread (as each worker process has its own),
    serving `listener` with a `BalancingLoop` whose worker has `delays[name]` seconds of
    accept delay, as if it had that many requests in flight. Yields who accepted how many."""
    accepted: Counter[str] = Counter()
    stop = threading.Event()
    serving = threading.Barrier(len(delays) + 1)

    def worker(name: str, delay: float) -> None:
        class Accepted(asyncio.Protocol):
            def connection_made(self, transport: asyncio.BaseTransport) -> None:
                accepted[name] += 1
                transport.close()

        async def main() -> None:
            loop = asyncio.get_running_loop()
            server = await loop.create_server(Accepted, sock=listener)
            serving.wait()
            await loop.run_in_executor(None, stop.wait)
            server.close()
            await server.wait_closed()

        with asyncio.Runner(loop_factory=lambda: BalancingLoop(lambda: delay)) as runner:
            runner.run(main())

    threads = [threading.Thread(target=worker, args=item) for item in delays.items()]
    for thread in threads:
        thread.start()
    serving.wait()
    try:
        yield accepted
    finally:
        stop.set()
        for thread in threads:
            thread.join(timeout=10)


def connect_one_by_one(listener: socket.socket, accepted: Counter[str], times: int) -> None:
    """Connect `times` times, each after the previous connection was taken by a worker."""
    address = listener.getsockname()
    for expected in range(1, times + 1):
        with socket.create_connection(address, timeout=5) as client:
            client.settimeout(5)
            assert client.recv(1) == b""  # the worker that took it closed it
        assert sum(accepted.values()) == expected


def test_a_busy_worker_leaves_new_connections_to_an_idle_one() -> None:
    listener = shared_listener()
    with workers_sharing(listener, {"busy": 1.0, "idle": 0.0}) as accepted:
        connect_one_by_one(listener, accepted, 20)
    assert accepted == {"idle": 20}
    listener.close()


def test_a_busy_worker_alone_still_takes_every_connection() -> None:
    listener = shared_listener()
    with workers_sharing(listener, {"busy": 0.05}) as accepted:
        connect_one_by_one(listener, accepted, 5)
    assert accepted == {"busy": 5}
    listener.close()


def test_the_accept_delay_grows_with_the_requests_in_flight_and_is_capped() -> None:
    """Counted around every HTTP request, also one that fails; other ASGI traffic is not."""
    seen: list[float] = []

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        seen.append(RequestsInFlight.accept_delay())
        if scope.get("path") == "/fails":
            raise RuntimeError("the app failed")
        if scope.get("path") == "/nested":
            await counted(dict(scope, path="/"), receive, send)

    counted = count_requests(app)

    async def nothing() -> dict[str, str]:
        return {}

    async def ignore(_message: object) -> None:
        return None

    async def requests() -> None:
        await counted({"type": "http", "path": "/"}, nothing, ignore)
        await counted({"type": "http", "path": "/nested"}, nothing, ignore)
        with pytest.raises(RuntimeError):
            await counted({"type": "http", "path": "/fails"}, nothing, ignore)
        await counted({"type": "lifespan"}, nothing, ignore)

    before = RequestsInFlight.count
    # Its own thread: a session-wide Playwright keeps an event loop running on the main one.
    with ThreadPoolExecutor(max_workers=1) as pool:
        pool.submit(asyncio.run, requests()).result()
    assert RequestsInFlight.count == before == 0
    assert seen == [0.0005, 0.0005, 0.001, 0.0005, 0.0]
    RequestsInFlight.count = 1_000
    try:
        assert RequestsInFlight.accept_delay() == 0.010
    finally:
        RequestsInFlight.count = 0
