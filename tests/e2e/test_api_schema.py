"""Schemathesis against the live server's own OpenAPI document, with an admin token.

For every operation under /api/v1 (and /healthz) it generates valid and invalid requests
from the schema and checks each response: never a 5xx, the status code is one the schema
documents, the body matches the documented schema for it, the content type too, and the
operation refuses a request without a token. Runs once on SQLite and once on PostgreSQL
(PostgreSQL refuses text SQLite stores, e.g. a NUL character), on a database seeded with
entries in several stages so that generated ids hit real rows.

Schemathesis' Python API drives Hypothesis here (`operation.as_strategy` under `@given`)
rather than its pytest plugin: `schemathesis.pytest.from_fixture` (4.32) fails under pytest 9
(`'Function' object has no attribute '_nodeid'`), and a server started by a fixture needs a
lazily loaded schema.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import APIOperation, GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    ignored_auth,
    response_schema_conformance,
    status_code_conformance,
)

from tests.e2e.conftest import LiveServer
from tests.e2e.test_api import expect, make_world

CHECKS = [
    not_a_server_error,
    response_schema_conformance,
    status_code_conformance,
    content_type_conformance,
    ignored_auth,
]
EXAMPLES_PER_OPERATION = 40


@pytest.fixture(scope="module")
def seeded(module_server: LiveServer) -> Iterator[tuple[LiveServer, str]]:
    """Entries in several stages, an assigned examiner and queued e-mails to find."""
    world = make_world(module_server, "examiner", "jury")
    entries = [world.new_entry(world.unit)] + [world.new_entry() for _ in range(4)]
    stages = ("notified", "board_decision", "extract_sent", "submitted", "feedback")
    for entry, stage in zip(entries, stages, strict=True):
        expect(world.assign(entry["id"]), 201)
        world.walk_to(entry, stage)
    yield module_server, world.tokens["admin"]
    world.close()


PATHS = re.compile(r"^(/api/v1/.*|/healthz)$")


def _operations(url: str) -> list[APIOperation]:
    schema = schemathesis.openapi.from_url(f"{url}/api/v1/openapi.json")
    operations = [result.ok() for result in schema.get_all_operations()]
    return [operation for operation in operations if PATHS.match(operation.path)]


def _describe(error: BaseException) -> str:
    parts = [str(error)]
    if isinstance(error, BaseExceptionGroup):
        parts += [str(inner) for inner in error.exceptions]
    return "\n".join(parts)[:4000]


@pytest.mark.parametrize("mode", [GenerationMode.POSITIVE, GenerationMode.NEGATIVE])
def test_every_operation_conforms_to_its_schema(
    seeded: tuple[LiveServer, str], mode: GenerationMode
) -> None:
    """Valid data (positive) and data that breaks the schema (negative), for every operation;
    all failures are collected and reported together, one per operation."""
    server, token = seeded
    headers = {"Authorization": f"Bearer {token}"}
    failures: dict[str, str] = {}
    operations = _operations(server.url)
    assert len(operations) >= 12

    for operation in operations:

        @given(case=operation.as_strategy(generation_mode=mode))
        @settings(
            max_examples=EXAMPLES_PER_OPERATION,
            deadline=None,
            derandomize=True,
            phases=[Phase.explicit, Phase.generate],  # no shrinking against a live server
            suppress_health_check=list(HealthCheck),
            database=None,
        )
        def check(case: schemathesis.Case) -> None:
            case.call_and_validate(base_url=server.url, headers=headers, checks=CHECKS, timeout=30)

        try:
            check()
        except Unsatisfiable:  # nothing to generate (negative data for an operation without
            continue  # parameters): nothing to check
        except (AssertionError, BaseExceptionGroup) as error:  # keep going: report them all
            failures[operation.label] = _describe(error)
    assert not failures, "\n\n".join(f"== {label}\n{text}" for label, text in failures.items())


def test_the_schema_is_served_without_a_token(seeded: tuple[LiveServer, str]) -> None:
    """The OpenAPI document and the health check are public; they list the contract."""
    server, _ = seeded
    document = expect(httpx.get(f"{server.url}/api/v1/openapi.json"), 200)
    assert document["openapi"].startswith("3.")
    assert "HTTPBearer" in document["components"]["securitySchemes"]
