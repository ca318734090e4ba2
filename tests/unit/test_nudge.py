"""The nudge publisher: a commit asks for a nudge and goes on; the broker is never waited for."""

from __future__ import annotations

import threading
import time

import pytest

import tasks.nudge
from tasks.nudge import Breaker, NudgePublisher


def test_asking_for_a_nudge_returns_at_once_while_the_broker_hangs(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A publish that hangs (a frozen Redis) holds the publisher's thread, not the caller's."""
    release = threading.Event()
    published: list[float] = []

    def hanging_publish(*_: object) -> bool:
        release.wait(10)
        published.append(time.monotonic())
        return True

    monkeypatch.setattr(tasks.nudge, "nudge_outbox", hanging_publish)
    publisher = NudgePublisher()
    started = time.monotonic()
    for _ in range(100):
        publisher.request()
    assert time.monotonic() - started < 0.5
    assert not publisher.flush(0.1)  # still publishing
    release.set()
    assert publisher.flush(5)


def test_requests_during_a_publish_fold_into_one_more(monkeypatch: pytest.MonkeyPatch) -> None:
    """A burst of commits costs two publishes (the one under way and one after), not one each."""
    first_started, release = threading.Event(), threading.Event()
    calls: list[int] = []

    def publish(*_: object) -> bool:
        calls.append(1)
        first_started.set()
        release.wait(10)
        return True

    monkeypatch.setattr(tasks.nudge, "nudge_outbox", publish)
    publisher = NudgePublisher()
    publisher.request()
    assert first_started.wait(5)
    for _ in range(50):
        publisher.request()
    release.set()
    assert publisher.flush(5)
    assert len(calls) == 2


class FakeClock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_the_breaker_pauses_longer_after_each_failure_and_closes_on_success() -> None:
    clock = FakeClock()
    breaker = Breaker(first_pause=2, longest_pause=30, clock=clock)
    assert breaker.allows()
    assert [breaker.failed() for _ in range(6)] == [2, 4, 8, 16, 30, 30]
    assert not breaker.allows()
    clock.now += 29
    assert not breaker.allows()
    clock.now += 1
    assert breaker.allows()
    breaker.succeeded()
    assert breaker.failed() == 2  # a success starts the pauses over
