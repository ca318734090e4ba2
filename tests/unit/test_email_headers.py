"""Every message says it is automated, so out-of-office replies do not flood the award office."""

from __future__ import annotations

import email.policy
from email.message import EmailMessage
from email.parser import BytesParser

import pytest

from tests.unit.test_emails import outgoing, parse, render
from workflow.emails import EMAIL_KINDS


@pytest.mark.parametrize("kind", sorted(EMAIL_KINDS))
def test_every_message_asks_for_no_auto_replies_and_names_its_list(kind: str) -> None:
    sent = BytesParser(policy=email.policy.default).parsebytes(outgoing(kind).data)
    built = parse(render(kind))
    for message in (sent, built):
        assert isinstance(message, EmailMessage)
        assert message["Auto-Submitted"] == "auto-generated"
        assert message["X-Auto-Response-Suppress"] == "All"
        assert message["List-Id"] == ("Kvalitetsutmarkelsen <kvalitetsutmarkelsen.stockholm.se>")
