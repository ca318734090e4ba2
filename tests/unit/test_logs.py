"""What the logs keep and what they leave out."""

from __future__ import annotations

import logging
from collections.abc import Iterator

import pytest

from workflow import logs


class Capture(logging.Handler):
    def __init__(self) -> None:
        super().__init__()
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(self.format(record))


@pytest.fixture
def captured() -> Iterator[Capture]:
    root = logging.getLogger()
    before = (list(root.handlers), root.level)
    handler = Capture()
    logs.configure(handler, json=False)
    yield handler
    root.handlers, root.level = before


def test_the_access_log_keeps_a_feed_path_but_not_its_token(captured: Capture) -> None:
    """A calendar app's request, as uvicorn logs it: the secret in the URL is not written."""
    logging.getLogger("uvicorn.access").warning(
        '%s - "%s %s HTTP/%s" %d',
        "10.0.0.7:51234",
        "GET",
        "/api/v1/calendar.ics?token=hemlig-nyckel_123&year=2024",
        "1.1",
        200,
    )
    (line,) = captured.lines
    assert "hemlig-nyckel_123" not in line
    assert "/api/v1/calendar.ics?token=[dolt]&year=2024" in line


def test_configuring_twice_redacts_once(captured: Capture) -> None:
    logs.configure(captured, json=False)
    filters = logging.getLogger("uvicorn.access").filters
    assert sum(isinstance(f, logs.RedactTokens) for f in filters) == 1
