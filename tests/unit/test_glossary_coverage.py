"""Every row of the Client Tracking Event Glossary article is an event type, in the same words.

The article lives in shared/seeds beside the repository; a copy is kept in tests/fixtures so
the test runs anywhere, and checked against the original when it is there. Its rows are
section headings ("Taxpayer: Initial Email") with status lines ("Processed: ..."), or
standalone headings ("Access Locked") followed by one explanatory sentence.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import pytest

from schemas.glossary import GLOSSARY, ROLE_LABELS, describe
from schemas.tracking import RecipientRole, TrackingEventType
from tests.factories import tracking_event

T = TrackingEventType
TAXPAYER, CC_RECIPIENT = RecipientRole.TAXPAYER, RecipientRole.CC_RECIPIENT
SOURCE = Path(__file__).resolve().parents[3] / "shared" / "seeds" / "000_3afc9656adac24a5.txt"
ARTICLE = Path(__file__).resolve().parents[1] / "fixtures" / "client_tracking_glossary.txt"
STRIPE_NOTE = "Stripe invoice payments are not listed in Client Tracking."
STATUS_LINE = re.compile(r"^(?P<status>[A-Z][A-Za-z]*): (?P<meaning>.+\.)$")
PLACEHOLDER = re.compile(r'"(?P<detail>\([^)]*\))"')

# (heading, status) of an article row -> (event type, recipient role the row names).
ROWS: dict[tuple[str, str | None], tuple[TrackingEventType, RecipientRole | None]] = {
    ("Taxpayer: Initial Email", "Processed"): (T.INITIAL_EMAIL_PROCESSED, TAXPAYER),
    ("Taxpayer: Initial Email", "Delivered"): (T.INITIAL_EMAIL_DELIVERED, TAXPAYER),
    ("Taxpayer: Initial Email", "Open"): (T.INITIAL_EMAIL_OPENED, TAXPAYER),
    ("Taxpayer: Initial Email", "Bounced"): (T.INITIAL_EMAIL_BOUNCED, TAXPAYER),
    ("Taxpayer: Access Code Email", "Processed"): (T.ACCESS_CODE_EMAIL_PROCESSED, TAXPAYER),
    ("Taxpayer: Access Code Email", "Delivered"): (T.ACCESS_CODE_EMAIL_DELIVERED, TAXPAYER),
    ("Taxpayer: Access Code Email", "Open"): (T.ACCESS_CODE_EMAIL_OPENED, TAXPAYER),
    ("Taxpayer: Access Code Email", "Bounced"): (T.ACCESS_CODE_EMAIL_BOUNCED, TAXPAYER),
    ("Taxpayer: Tax Return Accessed", None): (T.TAX_RETURN_ACCESSED, TAXPAYER),
    ("Taxpayer: Taxpayer Esigned - Other Signature Documents", None): (
        T.OTHER_DOCUMENTS_ESIGNED,
        TAXPAYER,
    ),
    ("Tax Return", "Recalled"): (T.TAX_RETURN_RECALLED, None),
    ("Tax Return", "Reprocessed"): (T.TAX_RETURN_REPROCESSED, None),
    ("Voucher Reminder mail status", None): (T.VOUCHER_REMINDER_SENT, None),
    ("Access Link selected", None): (T.ACCESS_LINK_SELECTED, None),
    ("Authentication Failed", None): (T.AUTHENTICATION_FAILED, None),
    ("Access Locked", None): (T.ACCESS_LOCKED, None),
    ("E-file Forms Downloaded", None): (T.EFILE_FORMS_DOWNLOADED, None),
    ('Document "(File Name)"', None): (T.DOCUMENT_DOWNLOADED, None),
    ("Document KBA Success", None): (T.KBA_SUCCEEDED, None),
    ('K-1\'s Distributed to "(Partner name)"', None): (T.K1_DISTRIBUTED, None),
    ('Files Uploaded "(File Name)"', None): (T.FILES_UPLOADED, None),
    ("Reminder Send For Signing", None): (T.SIGNING_REMINDER_SENT, None),
    ("CcRecipient: Initial Email", "Processed"): (T.INITIAL_EMAIL_PROCESSED, CC_RECIPIENT),
    ("CcRecipient: Initial Email", "Delivered"): (T.INITIAL_EMAIL_DELIVERED, CC_RECIPIENT),
    ("CcRecipient: Initial Email", "Open"): (T.INITIAL_EMAIL_OPENED, CC_RECIPIENT),
    ("CcRecipient: Initial Email", "Bounced"): (T.INITIAL_EMAIL_BOUNCED, CC_RECIPIENT),
    ("null", None): (T.UPLOADED_FILES_DELETED, None),
}
# The article shows "null" where the deletion row has no label; we name it after its meaning.
RENDERED_DIFFERENTLY = {("null", None): 'Uploaded Files Deleted "(File Name)"'}
DETAIL_NOT_IN_HEADING = {("null", None): "(File Name)"}
# Event types ctrack adds beyond the article (unlock by a firm user, failed KBA, unknown symbol).
NOT_IN_ARTICLE = {T.UNKNOWN, T.ACCESS_UNLOCKED, T.KBA_FAILED}


@dataclass(frozen=True)
class ArticleRow:
    heading: str
    status: str | None
    meaning: str

    @property
    def key(self) -> tuple[str, str | None]:
        return (self.heading, self.status)

    @property
    def lines(self) -> set[str]:
        """The row's words as one line: the heading, then the status after ' - ' or ': '."""
        if self.status is None:
            return {self.heading}
        return {f"{self.heading} - {self.status}", f"{self.heading}: {self.status}"}


def article_text() -> str:
    return ARTICLE.read_text(encoding="utf-8")


def test_the_fixture_is_the_article_where_the_original_is_at_hand() -> None:
    if SOURCE.exists():  # shared/ beside the repository (a developer machine, CI)
        assert ARTICLE.read_bytes() == SOURCE.read_bytes()


def parse_rows(text: str) -> list[ArticleRow]:
    """The event rows between the first Stripe note and the closing Info box."""
    body = text.split(STRIPE_NOTE, 1)[1].split("\nInfo\n", 1)[0]
    rows: list[ArticleRow] = []
    heading: str | None = None
    meaning, has_status = "", False
    for line in (raw.strip() for raw in body.splitlines()):
        if not line:
            continue
        status = STATUS_LINE.match(line)
        if not line.endswith("."):  # headings never end a sentence; explanations always do
            if heading is not None and not has_status:
                rows.append(ArticleRow(heading, None, meaning))
            heading, meaning, has_status = line, "", False
        elif status and status["status"] not in ROLE_LABELS.values() and heading is not None:
            rows.append(ArticleRow(heading, status["status"], status["meaning"]))
            has_status = True
        else:
            meaning = line
    if heading is not None and not has_status:
        rows.append(ArticleRow(heading, None, meaning))
    return rows


def test_every_article_row_is_mapped_once() -> None:
    rows = parse_rows(article_text())
    assert len(rows) == len({row.key for row in rows}) == 27
    assert {row.key for row in rows} == set(ROWS)
    assert all(row.meaning for row in rows)


@pytest.mark.parametrize("key", list(ROWS), ids=[" - ".join(filter(None, key)) for key in ROWS])
def test_each_row_renders_in_the_glossary_wording(key: tuple[str, str | None]) -> None:
    row = next(row for row in parse_rows(article_text()) if row.key == key)
    event_type, role = ROWS[key]
    placeholder = PLACEHOLDER.search(row.heading)
    detail = placeholder["detail"] if placeholder else DETAIL_NOT_IN_HEADING.get(key)
    event = tracking_event(event_type, role=role or TAXPAYER, detail=detail)
    expected = {RENDERED_DIFFERENTLY[key]} if key in RENDERED_DIFFERENTLY else row.lines
    assert describe(event) in expected
    if role is not None:
        assert row.heading.startswith(f"{ROLE_LABELS[role]}: ")


def test_the_deleted_forms_row_keeps_its_meaning() -> None:
    (row,) = [row for row in parse_rows(article_text()) if row.heading == "null"]
    assert row.meaning == "Client deleted the forms they uploaded."
    assert "Deleted" in GLOSSARY[T.UPLOADED_FILES_DELETED][1]


def test_every_event_type_is_an_article_row_or_a_known_addition() -> None:
    mapped = {event_type for event_type, _ in ROWS.values()}
    assert set(T) - mapped == NOT_IN_ARTICLE
    assert not mapped & NOT_IN_ARTICLE


def test_stripe_invoice_payments_have_no_event() -> None:
    text = article_text()
    assert text.count(STRIPE_NOTE) == 2  # said before and after the rows
    assert all(STRIPE_NOTE not in row.meaning for row in parse_rows(text))
    for event_type, (section, wording) in GLOSSARY.items():
        words = f"{event_type.value} {section or ''} {wording}".lower()
        assert "stripe" not in words and "invoice" not in words
        assert "payment" not in words
