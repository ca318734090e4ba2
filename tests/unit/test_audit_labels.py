"""Every change the services audit is named in Swedish where the setup pages show the trail.

The action codes are read from the source (every `action=` given to an audit call, and the
feedback release's own `_audit` helper), so a new audited action without a label fails here
instead of showing its English code to the award office."""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import workflow
from workflow.entrypoints.web.setup_common import AUDIT_ACTIONS

SOURCE = Path(workflow.__file__).parent


def _strings(node: ast.expr) -> Iterator[str]:
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        yield node.value
    elif isinstance(node, ast.IfExp):
        yield from _strings(node.body)
        yield from _strings(node.orelse)


def audited_actions() -> set[str]:
    found: set[str] = set()
    for path in (SOURCE / "services").glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if not isinstance(node, ast.Call):
                continue
            name = getattr(node.func, "id", getattr(node.func, "attr", ""))
            if name == "record_audit":
                for keyword in node.keywords:
                    if keyword.arg == "action":
                        found.update(_strings(keyword.value))
            elif name == "_audit" and node.args:
                found.update(_strings(node.args[-1]))
    return found


def test_every_audited_action_has_a_swedish_label() -> None:
    actions = audited_actions()
    assert {"ceremony_moved", "jury_announced", "feedback_released"} <= actions  # found at all
    assert sorted(actions - AUDIT_ACTIONS.keys()) == []
