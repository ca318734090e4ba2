"""Every refusal of the API is Swedish with a stable code, also the ones the framework and the
validation library make (an unknown address, a wrong method, broken JSON, a missing field)."""

from __future__ import annotations

from typing import Any


def reasons_of(response: Any) -> list[tuple[str, str]]:
    return [(r["code"], r["message"]) for r in response.json()["reasons"]]


def test_the_frameworks_own_refusals_are_swedish(sqlite_server: Any) -> None:
    admin = sqlite_server.client(sqlite_server.user("kansliet", "admin"))

    unknown = admin.get("/api/v1/finns-inte")
    assert unknown.status_code == 404
    assert reasons_of(unknown) == [("not_found", "Adressen finns inte.")]

    wrong_method = admin.delete("/api/v1/cycles")
    assert wrong_method.status_code == 405
    assert reasons_of(wrong_method)[0][0] == "method_not_allowed"
    assert "GET" in wrong_method.headers["allow"]

    broken = admin.post(
        "/api/v1/cycles", content=b'{"year": 2030,', headers={"Content-Type": "application/json"}
    )
    assert broken.status_code == 422
    assert reasons_of(broken)[0][0] == "invalid_field"
    assert "ingen giltig JSON" in reasons_of(broken)[0][1]

    missing = admin.post("/api/v1/cycles", json={"year": "tjugotrettio"})
    assert missing.status_code == 422
    messages = [message for _, message in reasons_of(missing)]
    assert "year: måste vara ett heltal" in messages
    assert "contribution_deadline: saknas" in messages
    for _, message in reasons_of(missing):
        assert "Input should" not in message and "Field required" not in message
