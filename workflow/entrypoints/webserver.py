"""Run the web app under uvicorn, with TCP_NODELAY on every connection.

With `--workers N` uvicorn binds the listening socket itself and leaves its `proto` at 0.
Accepted sockets inherit that, and asyncio turns TCP_NODELAY on only for sockets that say
IPPROTO_TCP. So every keep-alive request after the first waited about 40 ms for the client's
delayed ACK (uvicorn#3149). Measured here: /healthz 2 ms with one worker, 48 ms with two. The
listening socket is re-wrapped with its protocol before the workers get it.
"""

from __future__ import annotations

import socket

import uvicorn
from uvicorn.supervisors import Multiprocess

APP = "workflow.entrypoints.app:create_app"


class TcpNoDelayConfig(uvicorn.Config):
    """uvicorn's configuration, binding a listening socket that says it is TCP."""

    def bind_socket(self) -> socket.socket:
        sock = super().bind_socket()
        if sock.family in (socket.AF_INET, socket.AF_INET6) and sock.proto != socket.IPPROTO_TCP:
            sock = socket.socket(sock.family, sock.type, socket.IPPROTO_TCP, fileno=sock.detach())
            sock.set_inheritable(True)
        return sock


def run(
    *, host: str, port: int, workers: int, proxy_headers: bool, log_level: str = "info"
) -> None:
    """Serve until stopped; several worker processes share one listening socket."""
    config = TcpNoDelayConfig(
        APP,
        factory=True,
        host=host,
        port=port,
        workers=workers,
        proxy_headers=proxy_headers,
        log_level=log_level,
    )
    if config.workers > 1:
        Multiprocess(config, sockets=[config.bind_socket()]).run()
    else:
        uvicorn.Server(config).run()  # asyncio binds it itself, as TCP
