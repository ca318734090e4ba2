"""Where messages go: e-mails to an SMTP server or (embedded default) `.eml` files in a folder,
webhook events to their receivers over HTTP.

A transport is a context manager holding one connection for a whole batch. Failures are
named: `TransientFailure` (try again later: 4xx, refused or dropped connection, timeout) and
`PermanentFailure` (5xx: retrying will not help, the message is dead-lettered).
"""

from __future__ import annotations

import contextlib
import smtplib
import socket
import ssl
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any, Protocol
from urllib.parse import urlsplit

import httpx

from workflow.domain.addresses import Address, address_reason, host_allowed, literal_address
from workflow.emails import OutgoingEmail
from workflow.settings import Settings


@dataclass(frozen=True)
class SignedRequest:
    """A webhook event as the HTTP transport POSTs it."""

    url: str
    body: bytes
    headers: dict[str, str]


class TransientFailure(Exception):
    """The message may go through later; `connection_lost` when the whole connection is gone,
    `outcome_unknown` when it broke before the server answered (it may have been delivered)."""

    def __init__(
        self, message: str, *, connection_lost: bool = False, outcome_unknown: bool = False
    ) -> None:
        super().__init__(message)
        self.connection_lost = connection_lost
        self.outcome_unknown = outcome_unknown


class PermanentFailure(Exception):
    """The server refused this message for good (5xx)."""


class Transport(Protocol):
    def __enter__(self) -> Transport: ...

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None: ...

    def send(self, message: Any) -> None: ...  # an OutgoingEmail, or a webhook's request


class SmtpTransport:
    """One SMTP connection per batch: STARTTLS and login when the settings ask for them."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._smtp: smtplib.SMTP | None = None

    def __enter__(self) -> SmtpTransport:
        s = self.settings
        try:
            smtp = smtplib.SMTP(s.smtp_host, s.smtp_port, timeout=s.smtp_timeout_seconds)
            if s.smtp_starttls:
                smtp.starttls(context=ssl.create_default_context())
            if s.smtp_username:
                smtp.login(s.smtp_username, s.smtp_password)
        except smtplib.SMTPResponseException as error:
            raise _classify(error.smtp_code, error.smtp_error, connection=True) from error
        except (OSError, smtplib.SMTPException) as error:
            raise TransientFailure(
                f"SMTP-servern {s.smtp_host}:{s.smtp_port} svarar inte: {error}",
                connection_lost=True,
            ) from error
        self._smtp = smtp
        return self

    def __exit__(self, *exc_info: object) -> None:
        if self._smtp is not None:
            with contextlib.suppress(OSError, smtplib.SMTPException):
                self._smtp.quit()
            self._smtp = None

    def send(self, message: OutgoingEmail) -> None:
        assert self._smtp is not None, "use the transport as a context manager"
        try:
            refused = self._smtp.sendmail(message.sender, message.recipients, message.data)
        except smtplib.SMTPRecipientsRefused as error:
            code, reply = next(iter(error.recipients.values()))
            # 421 is the server closing the connection, whichever command it answers.
            raise _classify(code, reply, connection=code == 421) from error
        except smtplib.SMTPResponseException as error:
            lost = error.smtp_code == 421  # the server is closing the connection
            raise _classify(error.smtp_code, error.smtp_error, connection=lost) from error
        except (TimeoutError, smtplib.SMTPServerDisconnected, OSError) as error:
            raise TransientFailure(
                f"Anslutningen bröts: {error}", connection_lost=True, outcome_unknown=True
            ) from error
        if message.recipient in refused:
            code, reply = refused[message.recipient]
            raise _classify(code, reply)
        # A copy refused while the addressee took it: sending again would double the
        # addressee's, so the message counts as sent (the copy is a courtesy).


def _classify(code: int, reply: bytes | str, *, connection: bool = False) -> Exception:
    text = reply.decode(errors="replace") if isinstance(reply, bytes) else reply
    if 400 <= code < 500:
        return TransientFailure(f"SMTP {code}: {text}", connection_lost=connection)
    return PermanentFailure(f"SMTP {code}: {text}")


class EmlFolderTransport:
    """Writes each message as `<Message-ID>.eml`; the same message twice is the same file."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder

    def __enter__(self) -> EmlFolderTransport:
        self.folder.mkdir(parents=True, exist_ok=True)
        return self

    def __exit__(self, *exc_info: object) -> None:
        return None

    def send(self, message: OutgoingEmail) -> None:
        message_id = message.message_id.strip("<>")
        name = "".join(c if c.isalnum() or c in "-._@" else "_" for c in message_id)
        target = self.folder / f"{name}.eml"
        temporary = target.with_suffix(".eml.tmp")
        try:
            temporary.write_bytes(message.data)
            temporary.replace(target)  # atomic: a reader never sees half a message
        except OSError as error:
            raise TransientFailure(f"Kan inte skriva {target}: {error}") from error


def transport_from(settings: Settings) -> Transport:
    if settings.mail_transport == "smtp":
        return SmtpTransport(settings)
    return EmlFolderTransport(settings.resolved_mail_dir())


Resolver = Callable[[str, int], list[Address]]


def resolve_host(host: str, port: int) -> list[Address]:
    """Every address the system's resolver gives for `host`."""
    found = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return [literal_address(str(sockaddr[0])) or _unparsable(sockaddr) for *_, sockaddr in found]


def _unparsable(sockaddr: Any) -> Address:
    raise OSError(f"the resolver gave an address that is none: {sockaddr!r}")


@dataclass(frozen=True)
class PinnedTarget:
    """Where a request really goes: the address checked, with the name kept for Host and TLS."""

    url: str
    host_header: str | None = None
    sni_hostname: str | None = None


class HttpTransport:
    """POSTs signed requests over one pooled httpx client per batch; 2xx is delivered.

    The receiver's name is resolved here, at send time, and every address it resolves to is
    checked (`workflow.domain.addresses`); the request then goes to the checked address, so a
    name that re-resolves to an internal address between check and connect (DNS rebinding)
    cannot redirect it. Hosts in `allowed_hosts` are sent to as they are.
    """

    def __init__(
        self,
        timeout_seconds: float = 10.0,
        *,
        allowed_hosts: frozenset[str] = frozenset(),
        resolve: Resolver = resolve_host,
    ) -> None:
        self.timeout_seconds = timeout_seconds
        self.allowed_hosts = allowed_hosts
        self.resolve = resolve
        self._client: httpx.Client | None = None

    def __enter__(self) -> HttpTransport:
        self._client = httpx.Client(timeout=self.timeout_seconds, follow_redirects=False)
        return self

    def __exit__(self, *exc_info: object) -> None:
        if self._client is not None:
            self._client.close()
            self._client = None

    def pinned(self, url: str) -> PinnedTarget:
        """The checked address to send `url`'s request to; PermanentFailure for an address
        no webhook may reach, TransientFailure when the name does not resolve now."""
        parts = urlsplit(url)
        host = parts.hostname or ""
        if host_allowed(host, self.allowed_hosts):
            return PinnedTarget(url)
        port = parts.port or (443 if parts.scheme == "https" else 80)
        literal = literal_address(host)
        try:
            addresses = [literal] if literal is not None else self.resolve(host, port)
        except OSError as error:
            raise TransientFailure(f"{host} kan inte slås upp: {error}") from error
        for address in addresses:
            reason = address_reason(address)
            if reason is not None and not host_allowed(str(address), self.allowed_hosts):
                raise PermanentFailure(f"{host}: {reason.message}")
        if literal is not None or not addresses:
            return PinnedTarget(url)
        address = addresses[0]
        shown = f"[{address}]" if address.version == 6 else str(address)
        return PinnedTarget(
            parts._replace(netloc=f"{shown}:{port}").geturl(),
            host_header=parts.netloc.rsplit("@", 1)[-1],
            sni_hostname=host if parts.scheme == "https" else None,
        )

    def send(self, request: SignedRequest) -> None:
        assert self._client is not None
        target = self.pinned(request.url)
        headers = dict(request.headers)
        if target.host_header is not None:
            headers["Host"] = target.host_header
        extensions = {"sni_hostname": target.sni_hostname} if target.sni_hostname else None
        try:
            response = self._client.post(
                target.url, content=request.body, headers=headers, extensions=extensions
            )
        except httpx.HTTPError as error:
            raise TransientFailure(
                f"{request.url}: {error}",
                outcome_unknown=not isinstance(error, httpx.ConnectError),  # sent, no answer
            ) from error
        if response.is_success:
            return
        status = response.status_code
        message = f"{request.url} svarade {status}"
        # Timeouts, throttling and server errors may pass; other 4xx will not.
        if status in (408, 425, 429) or status >= 500:
            raise TransientFailure(message)
        raise PermanentFailure(message)
