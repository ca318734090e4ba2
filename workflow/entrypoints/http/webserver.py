"""Run the web app under uvicorn: TCP_NODELAY on every connection, and with several workers,
new connections go to the worker with the least to do.

TCP_NODELAY. Every accepted connection must have it, or each keep-alive request after the first
waits about 40 ms for the client's delayed ACK (measured: /healthz 2 ms with one worker, 48 ms
with two). asyncio sets it only on sockets that say IPPROTO_TCP; uvicorn binds its shared
socket that way since 0.55 (uvicorn#3149; we wrapped the socket ourselves before that), and
tests/unit/test_webserver.py checks the socket `server_config` binds, whoever sets it.

Balance. The workers share one listening socket, and asyncio takes every connection waiting on
it as soon as the socket is readable. On a busy machine the worker already holding most
connections tended to win that race (its loop is awake), and a keep-alive connection stays
with the worker that took it: under bench/api.py's 16 clients one worker held 13-15 of them,
its requests queued behind each other while the other worker idled. Now a worker with requests
in flight waits a little before it takes a new connection (longer the more it has), so an idler
worker gets it first: 8 and 8. bench/api.py on PostgreSQL, alternating runs: p99 59-60 → 39-42 ms,
580-630 → 705-710 transitions/s.
"""

from __future__ import annotations

import asyncio
import logging
import socket
from collections.abc import Callable
from typing import Any

import uvicorn
from starlette.types import ASGIApp, Receive, Scope, Send
from uvicorn.supervisors import Multiprocess

from workflow.entrypoints.http.app import create_app

APP = "workflow.entrypoints.http.webserver:counted_app"
LOOP = "workflow.entrypoints.http.webserver:balancing_loop"
# A worker with n requests in flight waits n × this before taking a new connection (capped):
# long enough for an idle worker's loop to wake and take it, short next to a request.
DELAY_PER_REQUEST_IN_FLIGHT = 0.0005
MAX_ACCEPT_DELAY = 0.010
RETRY_AFTER_ACCEPT_ERROR = 1.0  # asyncio's own pause when accept() runs out of descriptors

log = logging.getLogger(__name__)


class RequestsInFlight:
    """How many HTTP requests this worker process is handling now."""

    count = 0

    @classmethod
    def accept_delay(cls) -> float:
        return min(MAX_ACCEPT_DELAY, cls.count * DELAY_PER_REQUEST_IN_FLIGHT)


def count_requests(app: ASGIApp) -> ASGIApp:
    """`app`, keeping `RequestsInFlight.count` for the accept balancing."""

    async def counting(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await app(scope, receive, send)
            return
        RequestsInFlight.count += 1
        try:
            await app(scope, receive, send)
        finally:
            RequestsInFlight.count -= 1

    return counting


def counted_app() -> ASGIApp:
    """What the workers serve (uvicorn's factory)."""
    return count_requests(create_app())


class SharedSocketServer(asyncio.AbstractServer):
    """Serves a listening socket that other worker processes share, one accept at a time,
    leaving a new connection to a less busy worker first."""

    def __init__(
        self,
        loop: asyncio.AbstractEventLoop,
        sock: socket.socket,
        protocol_factory: Callable[[], asyncio.BaseProtocol],
        accept_delay: Callable[[], float],
    ) -> None:
        self._loop = loop
        self._sock = sock
        self._protocol_factory = protocol_factory
        self._accept_delay = accept_delay
        self._accepting: asyncio.Task[None] | None = None

    async def start_serving(self) -> None:
        if self._accepting is None:
            self._accepting = self._loop.create_task(self._accept_forever())

    def is_serving(self) -> bool:
        return self._accepting is not None and not self._accepting.done()

    def get_loop(self) -> asyncio.AbstractEventLoop:
        return self._loop

    def close(self) -> None:
        # The socket is the caller's: uvicorn closes the ones it was given.
        if self._accepting is not None:
            self._accepting.cancel()

    async def wait_closed(self) -> None:
        if self._accepting is not None:
            await asyncio.gather(self._accepting, return_exceptions=True)

    async def serve_forever(self) -> None:
        await self.start_serving()
        assert self._accepting is not None
        await self._accepting

    @property
    def sockets(self) -> tuple[socket.socket, ...]:
        return (self._sock,)

    async def _accept_forever(self) -> None:
        while True:
            await self._readable()
            delay = self._accept_delay()
            if delay:
                await asyncio.sleep(delay)  # an idler worker takes it meanwhile, if there is one
            try:
                connection, _address = self._sock.accept()
            except (BlockingIOError, InterruptedError, ConnectionAbortedError):
                continue  # another worker took it
            except OSError as error:  # out of descriptors, say: pause, never stop serving
                log.warning("cannot accept a connection now (%s); trying again shortly", error)
                await asyncio.sleep(RETRY_AFTER_ACCEPT_ERROR)
                continue
            connection.setblocking(False)
            try:
                await self._loop.connect_accepted_socket(self._protocol_factory, connection)
            except Exception:  # one connection failing must not stop the server
                log.exception("could not set up an accepted connection")
                connection.close()

    async def _readable(self) -> None:
        ready = self._loop.create_future()
        fd = self._sock.fileno()

        def wake() -> None:
            if not ready.done():
                ready.set_result(None)

        self._loop.add_reader(fd, wake)
        try:
            await ready
        finally:
            self._loop.remove_reader(fd)


class BalancingLoop(asyncio.SelectorEventLoop):
    """asyncio's loop, serving a shared listening socket with `SharedSocketServer`."""

    def __init__(self, accept_delay: Callable[[], float] = RequestsInFlight.accept_delay) -> None:
        super().__init__()
        self._accept_delay = accept_delay

    async def create_server(  # type: ignore[override]
        self,
        protocol_factory: Callable[[], asyncio.BaseProtocol],
        host: Any = None,
        port: Any = None,
        *,
        sock: socket.socket | None = None,
        ssl: Any = None,
        backlog: int = 100,
        start_serving: bool = True,
        **kwargs: Any,
    ) -> asyncio.AbstractServer:
        if sock is None or ssl is not None:
            return await super().create_server(
                protocol_factory, host, port, sock=sock, ssl=ssl, backlog=backlog,
                start_serving=start_serving, **kwargs,
            )  # fmt: skip
        sock.setblocking(False)
        sock.listen(backlog)  # as asyncio's own server does: uvicorn only binds it
        server = SharedSocketServer(self, sock, protocol_factory, self._accept_delay)
        if start_serving:
            await server.start_serving()
        return server


def balancing_loop() -> asyncio.AbstractEventLoop:
    """uvicorn's loop factory for the workers (`Config(loop=LOOP)`)."""
    return BalancingLoop()


def server_config(
    *, host: str, port: int, workers: int, proxy_headers: bool, log_level: str = "info"
) -> uvicorn.Config:
    """uvicorn's configuration for `kvalitet web`."""
    return uvicorn.Config(
        APP,
        factory=True,
        host=host,
        port=port,
        workers=workers,
        proxy_headers=proxy_headers,
        log_level=log_level,
        loop=LOOP if workers > 1 else "auto",
    )


def run(
    *, host: str, port: int, workers: int, proxy_headers: bool, log_level: str = "info"
) -> None:
    """Serve until stopped; several worker processes share one listening socket."""
    config = server_config(
        host=host, port=port, workers=workers, proxy_headers=proxy_headers, log_level=log_level
    )
    if config.workers > 1:
        Multiprocess(config, sockets=[config.bind_socket()]).run()
    else:
        uvicorn.Server(config).run()  # asyncio binds it itself, as TCP
