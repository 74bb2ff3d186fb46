"""The wording a firm sees on a return's Client Tracking view, one entry per event type."""

from __future__ import annotations

from schemas.tracking import RecipientRole, TrackingEvent, TrackingEventType

T = TrackingEventType

ROLE_LABELS: dict[RecipientRole, str] = {
    RecipientRole.TAXPAYER: "Taxpayer",
    RecipientRole.SPOUSE: "Spouse",
    RecipientRole.CC_RECIPIENT: "CcRecipient",
}

# (section heading, status wording). A section of None means the row stands on its own.
GLOSSARY: dict[TrackingEventType, tuple[str | None, str]] = {
    T.INITIAL_EMAIL_PROCESSED: ("Initial Email", "Processed"),
    T.INITIAL_EMAIL_DELIVERED: ("Initial Email", "Delivered"),
    T.INITIAL_EMAIL_OPENED: ("Initial Email", "Open"),
    T.INITIAL_EMAIL_BOUNCED: ("Initial Email", "Bounced"),
    T.ACCESS_CODE_EMAIL_PROCESSED: ("Access Code Email", "Processed"),
    T.ACCESS_CODE_EMAIL_DELIVERED: ("Access Code Email", "Delivered"),
    T.ACCESS_CODE_EMAIL_OPENED: ("Access Code Email", "Open"),
    T.ACCESS_CODE_EMAIL_BOUNCED: ("Access Code Email", "Bounced"),
    T.TAX_RETURN_ACCESSED: (None, "Tax Return Accessed"),
    T.OTHER_DOCUMENTS_ESIGNED: (None, "Taxpayer Esigned - Other Signature Documents"),
    T.TAX_RETURN_RECALLED: ("Tax Return", "Recalled"),
    T.TAX_RETURN_REPROCESSED: ("Tax Return", "Reprocessed"),
    T.VOUCHER_REMINDER_SENT: (None, "Voucher Reminder mail status"),
    T.ACCESS_LINK_SELECTED: (None, "Access Link selected"),
    T.AUTHENTICATION_FAILED: (None, "Authentication Failed"),
    T.ACCESS_LOCKED: (None, "Access Locked"),
    T.ACCESS_UNLOCKED: (None, "Access Unlocked"),
    T.EFILE_FORMS_DOWNLOADED: (None, "E-file Forms Downloaded"),
    T.DOCUMENT_DOWNLOADED: (None, 'Document "{detail}"'),
    T.KBA_SUCCEEDED: (None, "Document KBA Success"),
    T.KBA_FAILED: (None, "Document KBA Failed"),
    T.K1_DISTRIBUTED: (None, 'K-1\'s Distributed to "{detail}"'),
    T.FILES_UPLOADED: (None, 'Files Uploaded "{detail}"'),
    T.UPLOADED_FILES_DELETED: (None, 'Uploaded Files Deleted "{detail}"'),
    T.SIGNING_REMINDER_SENT: (None, "Reminder Send For Signing"),
    T.UNKNOWN: (None, "Unknown event"),
}

_ROLE_SCOPED_SECTIONS = {"Initial Email", "Access Code Email"}
# Standalone rows the glossary heads with the recipient, e.g. "Taxpayer: Tax Return Accessed".
_ROLE_SCOPED_ROWS = {T.TAX_RETURN_ACCESSED, T.OTHER_DOCUMENTS_ESIGNED}


def describe(event: TrackingEvent) -> str:
    """The glossary line for an event, e.g. 'Taxpayer: Initial Email - Processed'."""
    section, wording = GLOSSARY[event.event_type]
    text = wording.format(detail=event.detail or "")
    if section is None and event.event_type in _ROLE_SCOPED_ROWS:
        return f"{ROLE_LABELS[event.recipient_role]}: {text}"
    if section is None:
        return text
    if section in _ROLE_SCOPED_SECTIONS:
        return f"{ROLE_LABELS[event.recipient_role]}: {section} - {text}"
    return f"{section}: {text}"
