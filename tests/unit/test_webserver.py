"""The web server's listening socket gives every connection TCP_NODELAY."""

from __future__ import annotations

import asyncio
import socket
from concurrent.futures import ThreadPoolExecutor

import pytest

from workflow.entrypoints.webserver import APP, TcpNoDelayConfig


def nodelay_of_accepted(listener: socket.socket) -> int:
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
    with ThreadPoolExecutor(max_workers=1) as pool:
        pool.submit(asyncio.run, main()).result()
    return seen[0]


def test_the_socket_workers_share_turns_nagle_off_for_every_connection() -> None:
    config = TcpNoDelayConfig(APP, factory=True, host="127.0.0.1", port=0, workers=2)
    listener = config.bind_socket()
    assert listener.proto == socket.IPPROTO_TCP
    assert nodelay_of_accepted(listener) == 1


def test_uvicorns_own_socket_would_leave_it_on() -> None:
    """Why TcpNoDelayConfig exists (uvicorn#3149); if uvicorn fixes it, this says so."""
    import uvicorn

    listener = uvicorn.Config(APP, factory=True, host="127.0.0.1", port=0).bind_socket()
    if listener.proto == socket.IPPROTO_TCP:
        pytest.fail("uvicorn now binds as TCP itself: TcpNoDelayConfig can go")
    assert nodelay_of_accepted(listener) == 0
