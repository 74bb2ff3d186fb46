"""Emails about a return, and the Client Tracking rows they make (glossary rows as strings).

Record values are plain strings: records are built in the hot loop, and enum lookups add up.
"""

from __future__ import annotations

from producers.simulator import records
from producers.simulator.agenda import HOUR, Agenda
from producers.simulator.cases import ReturnCase
from producers.simulator.delivery import EmailFate, Mailer
from schemas.tracking import AuthFailureReason, TrackingEventType

T = TrackingEventType
NEVER = 1 << 62  # "did not happen": later than any simulated time
TAXPAYER, SPOUSE, CC = "TAXPAYER", "SPOUSE", "CC_RECIPIENT"
CLIENT, FIRM_USER, SYSTEM = "CLIENT", "FIRM_USER", "SYSTEM"
ACCESS_CODE_EMAIL_OPENED = T.ACCESS_CODE_EMAIL_OPENED.value
ACCESS_LINK_SELECTED = T.ACCESS_LINK_SELECTED.value
ACCESS_UNLOCKED = T.ACCESS_UNLOCKED.value
AUTHENTICATION_FAILED = T.AUTHENTICATION_FAILED.value
DOCUMENT_DOWNLOADED = T.DOCUMENT_DOWNLOADED.value
EFILE_FORMS_DOWNLOADED = T.EFILE_FORMS_DOWNLOADED.value
FILES_UPLOADED = T.FILES_UPLOADED.value
INITIAL_EMAIL_OPENED = T.INITIAL_EMAIL_OPENED.value
K1_DISTRIBUTED = T.K1_DISTRIBUTED.value
KBA_FAILED = T.KBA_FAILED.value
KBA_SUCCEEDED = T.KBA_SUCCEEDED.value
OTHER_DOCUMENTS_ESIGNED = T.OTHER_DOCUMENTS_ESIGNED.value
SIGNING_REMINDER_SENT = T.SIGNING_REMINDER_SENT.value
TAX_RETURN_ACCESSED = T.TAX_RETURN_ACCESSED.value
TAX_RETURN_RECALLED = T.TAX_RETURN_RECALLED.value
TAX_RETURN_REPROCESSED = T.TAX_RETURN_REPROCESSED.value
UPLOADED_FILES_DELETED = T.UPLOADED_FILES_DELETED.value
VOUCHER_REMINDER_SENT = T.VOUCHER_REMINDER_SENT.value
WRONG_SSN = AuthFailureReason.WRONG_SSN.value
WRONG_CODE = AuthFailureReason.WRONG_ACCESS_CODE.value
EXPIRED_CODE = AuthFailureReason.EXPIRED_ACCESS_CODE.value
# Client Tracking rows of an email: (processed, delivered, bounced, opened)
Tracked = tuple[str, str, str, str]
INITIAL: Tracked = (
    T.INITIAL_EMAIL_PROCESSED.value,
    T.INITIAL_EMAIL_DELIVERED.value,
    T.INITIAL_EMAIL_BOUNCED.value,
    INITIAL_EMAIL_OPENED,
)
ACCESS_CODE: Tracked = (
    T.ACCESS_CODE_EMAIL_PROCESSED.value,
    T.ACCESS_CODE_EMAIL_DELIVERED.value,
    T.ACCESS_CODE_EMAIL_BOUNCED.value,
    ACCESS_CODE_EMAIL_OPENED,
)


class ReturnMail:
    """Sends a return's emails through the mailer and schedules their Client Tracking rows."""

    def __init__(self, agenda: Agenda, mailer: Mailer):
        self._agenda, self.mailer = agenda, mailer

    def send(
        self,
        case: ReturnCase,
        role: str,
        rhash: str,
        sent_at: int,
        kind: str,
        tracked: Tracked | None,
        *,
        open_rate: float | None = None,
        open_delay_mean_ms: int = 8 * HOUR,
    ) -> EmailFate:
        """Send an email of the return; `tracked` names its Client Tracking rows, if any."""
        message = self.mailer.message(
            kind, "EMAIL", case.firm.firm_id, return_id=case.return_id,
            client_id=case.client_id, role=role, recipient_hash=rhash,
        )  # fmt: skip
        fate = self.mailer.email(
            message, sent_at, open_rate=open_rate, open_delay_mean_ms=open_delay_mean_ms
        )
        if tracked is None:
            return fate
        at = self._agenda.at
        processed, delivered, bounced, opened = tracked
        at(fate.processed_at, records.tracking, case, processed, role, SYSTEM)
        if fate.delivered_at is not None:
            at(fate.delivered_at, records.tracking, case, delivered, role, SYSTEM)
        elif fate.bounced_at is not None:
            at(fate.bounced_at, records.tracking, case, bounced, role, SYSTEM)
        if fate.opened_at is not None:
            at(fate.opened_at, records.tracking, case, opened, role, CLIENT)
        return fate
