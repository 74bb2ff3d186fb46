"""Every tracking event type reads in the glossary's words."""

from __future__ import annotations

import pytest

from schemas.glossary import GLOSSARY, describe
from schemas.tracking import RecipientRole, TrackingEventType
from tests.factories import tracking_event

T = TrackingEventType


def test_every_event_type_has_wording() -> None:
    assert set(GLOSSARY) == set(T)


@pytest.mark.parametrize(
    ("event_type", "role", "detail", "line"),
    [
        (
            T.INITIAL_EMAIL_PROCESSED,
            RecipientRole.TAXPAYER,
            None,
            "Taxpayer: Initial Email - Processed",
        ),
        (
            T.INITIAL_EMAIL_OPENED,
            RecipientRole.CC_RECIPIENT,
            None,
            "CcRecipient: Initial Email - Open",
        ),
        (
            T.ACCESS_CODE_EMAIL_BOUNCED,
            RecipientRole.SPOUSE,
            None,
            "Spouse: Access Code Email - Bounced",
        ),
        (T.TAX_RETURN_RECALLED, RecipientRole.TAXPAYER, None, "Tax Return: Recalled"),
        (T.ACCESS_LOCKED, RecipientRole.TAXPAYER, None, "Access Locked"),
        (T.DOCUMENT_DOWNLOADED, RecipientRole.TAXPAYER, "1040.pdf", 'Document "1040.pdf"'),
        (T.K1_DISTRIBUTED, RecipientRole.TAXPAYER, "Jane Roe", 'K-1\'s Distributed to "Jane Roe"'),
        (T.SIGNING_REMINDER_SENT, RecipientRole.TAXPAYER, None, "Reminder Send For Signing"),
    ],
)
def test_wording(event_type: T, role: RecipientRole, detail: str | None, line: str) -> None:
    assert describe(tracking_event(event_type, role=role, detail=detail)) == line
